-- insert, 2 rows
INSERT INTO "shop"."store_totals" ("store", "day", "total_cents", "note") VALUES ($1, $2, $3, $4), ($5, $6, $7, $8);

-- upsert, 2 rows
INSERT INTO "shop"."store_totals" ("store", "day", "total_cents", "note") VALUES ($1, $2, $3, $4), ($5, $6, $7, $8) ON CONFLICT ("store", "day") DO UPDATE SET "total_cents" = EXCLUDED."total_cents", "note" = EXCLUDED."note";

-- upsert of key columns only
INSERT INTO "shop"."store_totals" ("store", "day") VALUES ($1, $2) ON CONFLICT ("store", "day") DO NOTHING;

-- update
UPDATE "shop"."store_totals" SET "total_cents" = $1, "note" = $2 WHERE "store" = $3 AND "day" = $4;

-- delete, one key column, 3 rows
DELETE FROM "shop"."store_totals" WHERE "store" IN ($1, $2, $3);

-- delete, two key columns, 2 rows
DELETE FROM "shop"."store_totals" WHERE ("store", "day") IN (($1, $2), ($3, $4));

-- auto_create
CREATE TABLE IF NOT EXISTS "shop"."store_totals" ("store" TEXT NOT NULL, "day" BIGINT NOT NULL, "total_cents" DOUBLE PRECISION, "note" TEXT, "tags" JSONB, "open" BOOLEAN, PRIMARY KEY ("store", "day"));

-- savepoint
SAVEPOINT conveyor_find; ROLLBACK TO SAVEPOINT conveyor_find; RELEASE SAVEPOINT conveyor_find;

-- offsets table
CREATE TABLE IF NOT EXISTS "shop"."conveyor_offsets" ("consumer_group" TEXT NOT NULL, "topic" TEXT NOT NULL, "partition" INTEGER NOT NULL, "next_offset" BIGINT NOT NULL, "cluster_id" TEXT, "topic_id" TEXT, PRIMARY KEY ("consumer_group", "topic", "partition"));

-- first offset
INSERT INTO "shop"."conveyor_offsets" ("consumer_group", "topic", "partition", "next_offset", "cluster_id", "topic_id") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT ("consumer_group", "topic", "partition") DO NOTHING;

-- move an offset
UPDATE "shop"."conveyor_offsets" SET "next_offset" = $1, "cluster_id" = $2, "topic_id" = $3 WHERE "consumer_group" = $4 AND "topic" = $5 AND "partition" = $6 AND "next_offset" = $7;

-- one offset
SELECT "next_offset" FROM "shop"."conveyor_offsets" WHERE "consumer_group" = $1 AND "topic" = $2 AND "partition" = $3;

-- a topic's offsets
SELECT "partition", "next_offset", cluster_id, topic_id FROM "shop"."conveyor_offsets" WHERE "consumer_group" = $1 AND "topic" = $2;

-- a topic's offsets, in a table of an older version
SELECT "partition", "next_offset" FROM "shop"."conveyor_offsets" WHERE "consumer_group" = $1 AND "topic" = $2;

-- identity columns there?
SELECT cluster_id, topic_id FROM "shop"."conveyor_offsets" WHERE 1 = 0;

-- upgrade: add cluster_id
ALTER TABLE "shop"."conveyor_offsets" ADD COLUMN "cluster_id" TEXT;

-- upgrade: add topic_id
ALTER TABLE "shop"."conveyor_offsets" ADD COLUMN "topic_id" TEXT;

-- reset a topic's offsets
DELETE FROM "shop"."conveyor_offsets" WHERE "consumer_group" = $1 AND "topic" = $2;

