-- The account the function connects as: it may create and drop users, give
-- them the privileges the flow's targets name on the databases they name,
-- list and kill sessions, and nothing else. (MariaDB 10.5+; on MySQL 8 write
-- CONNECTION_ADMIN for CONNECTION ADMIN.)
CREATE USER 'latch_admin'@'10.0.%' IDENTIFIED BY 'change-me' REQUIRE SSL;
GRANT CREATE USER, PROCESS, CONNECTION ADMIN ON *.* TO 'latch_admin'@'10.0.%';
GRANT SELECT, INSERT, UPDATE, DELETE ON `orders`.* TO 'latch_admin'@'10.0.%' WITH GRANT OPTION;
