-- insert, 2 rows
INSERT INTO `shop`.`store_totals` (`store`, `day`, `total_cents`, `note`) VALUES (?, ?, ?, ?), (?, ?, ?, ?);

-- upsert, 2 rows
INSERT INTO `shop`.`store_totals` (`store`, `day`, `total_cents`, `note`) VALUES (?, ?, ?, ?), (?, ?, ?, ?) ON DUPLICATE KEY UPDATE `total_cents` = VALUES(`total_cents`), `note` = VALUES(`note`);

-- upsert of key columns only
INSERT INTO `shop`.`store_totals` (`store`, `day`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `store` = `store`;

-- update
UPDATE `shop`.`store_totals` SET `total_cents` = ?, `note` = ? WHERE `store` = ? AND `day` = ?;

-- delete, one key column, 3 rows
DELETE FROM `shop`.`store_totals` WHERE `store` IN (?, ?, ?);

-- delete, two key columns, 2 rows
DELETE FROM `shop`.`store_totals` WHERE (`store`, `day`) IN ((?, ?), (?, ?));

-- auto_create
CREATE TABLE IF NOT EXISTS `shop`.`store_totals` (`store` VARCHAR(255) NOT NULL, `day` BIGINT NOT NULL, `total_cents` DOUBLE, `note` TEXT, `tags` JSON, `open` BOOLEAN, PRIMARY KEY (`store`, `day`));

-- savepoint
SAVEPOINT conveyor_find; ROLLBACK TO SAVEPOINT conveyor_find; RELEASE SAVEPOINT conveyor_find;

-- offsets table
CREATE TABLE IF NOT EXISTS `shop`.`conveyor_offsets` (`consumer_group` VARCHAR(255) NOT NULL, `topic` VARCHAR(255) NOT NULL, `partition` INTEGER NOT NULL, `next_offset` BIGINT NOT NULL, `cluster_id` TEXT, `topic_id` TEXT, PRIMARY KEY (`consumer_group`, `topic`, `partition`));

-- first offset
INSERT INTO `shop`.`conveyor_offsets` (`consumer_group`, `topic`, `partition`, `next_offset`, `cluster_id`, `topic_id`) VALUES (?, ?, ?, ?, ?, ?);

-- move an offset
UPDATE `shop`.`conveyor_offsets` SET `next_offset` = ?, `cluster_id` = ?, `topic_id` = ? WHERE `consumer_group` = ? AND `topic` = ? AND `partition` = ? AND `next_offset` = ?;

-- one offset
SELECT `next_offset` FROM `shop`.`conveyor_offsets` WHERE `consumer_group` = ? AND `topic` = ? AND `partition` = ?;

-- a topic's offsets
SELECT `partition`, `next_offset`, cluster_id, topic_id FROM `shop`.`conveyor_offsets` WHERE `consumer_group` = ? AND `topic` = ?;

-- a topic's offsets, in a table of an older version
SELECT `partition`, `next_offset` FROM `shop`.`conveyor_offsets` WHERE `consumer_group` = ? AND `topic` = ?;

-- identity columns there?
SELECT cluster_id, topic_id FROM `shop`.`conveyor_offsets` WHERE 1 = 0;

-- upgrade: add cluster_id
ALTER TABLE `shop`.`conveyor_offsets` ADD COLUMN `cluster_id` TEXT;

-- upgrade: add topic_id
ALTER TABLE `shop`.`conveyor_offsets` ADD COLUMN `topic_id` TEXT;

-- reset a topic's offsets
DELETE FROM `shop`.`conveyor_offsets` WHERE `consumer_group` = ? AND `topic` = ?;

