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

