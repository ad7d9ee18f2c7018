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

