-- insert, 2 rows
INSERT INTO "shop"."store_totals" ("store", "day", "total_cents", "note") VALUES (?, ?, ?, ?), (?, ?, ?, ?);

-- upsert, 2 rows
INSERT INTO "shop"."store_totals" ("store", "day", "total_cents", "note") VALUES (?, ?, ?, ?), (?, ?, ?, ?) ON CONFLICT ("store", "day") DO UPDATE SET "total_cents" = EXCLUDED."total_cents", "note" = EXCLUDED."note";

-- upsert of key columns only
INSERT INTO "shop"."store_totals" ("store", "day") VALUES (?, ?) ON CONFLICT ("store", "day") DO NOTHING;

-- update
UPDATE "shop"."store_totals" SET "total_cents" = ?, "note" = ? WHERE "store" = ? AND "day" = ?;

-- delete, one key column, 3 rows
DELETE FROM "shop"."store_totals" WHERE "store" IN (?, ?, ?);

-- delete, two key columns, 2 rows
DELETE FROM "shop"."store_totals" WHERE ("store", "day") IN (VALUES (?, ?), (?, ?));

-- auto_create
CREATE TABLE IF NOT EXISTS "shop"."store_totals" ("store" TEXT NOT NULL, "day" INTEGER NOT NULL, "total_cents" REAL, "note" TEXT, "tags" TEXT, "open" BOOLEAN, PRIMARY KEY ("store", "day"));

-- savepoint
SAVEPOINT conveyor_find; ROLLBACK TO SAVEPOINT conveyor_find; RELEASE SAVEPOINT conveyor_find;

-- offsets table
CREATE TABLE IF NOT EXISTS "shop"."conveyor_offsets" ("consumer_group" TEXT NOT NULL, "topic" TEXT NOT NULL, "partition" INTEGER NOT NULL, "next_offset" INTEGER NOT NULL, "cluster_id" TEXT, "topic_id" TEXT, PRIMARY KEY ("consumer_group", "topic", "partition"));

-- first offset
INSERT INTO "shop"."conveyor_offsets" ("consumer_group", "topic", "partition", "next_offset", "cluster_id", "topic_id") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT ("consumer_group", "topic", "partition") DO NOTHING;

-- move an offset
UPDATE "shop"."conveyor_offsets" SET "next_offset" = ?, "cluster_id" = ?, "topic_id" = ? WHERE "consumer_group" = ? AND "topic" = ? AND "partition" = ? AND "next_offset" = ?;

-- one offset
SELECT "next_offset" FROM "shop"."conveyor_offsets" WHERE "consumer_group" = ? AND "topic" = ? AND "partition" = ?;

-- a topic's offsets
SELECT "partition", "next_offset", cluster_id, topic_id FROM "shop"."conveyor_offsets" WHERE "consumer_group" = ? AND "topic" = ?;

-- a topic's offsets, in a table of an older version
SELECT "partition", "next_offset" FROM "shop"."conveyor_offsets" WHERE "consumer_group" = ? AND "topic" = ?;

-- identity columns there?
SELECT cluster_id, topic_id FROM "shop"."conveyor_offsets" WHERE 1 = 0;

-- upgrade: add cluster_id
ALTER TABLE "shop"."conveyor_offsets" ADD COLUMN "cluster_id" TEXT;

-- upgrade: add topic_id
ALTER TABLE "shop"."conveyor_offsets" ADD COLUMN "topic_id" TEXT;

-- reset a topic's offsets
DELETE FROM "shop"."conveyor_offsets" WHERE "consumer_group" = ? AND "topic" = ?;

