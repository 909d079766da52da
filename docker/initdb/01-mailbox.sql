-- PostfixAdmin's mailbox table (the columns saslauthd-mysql reads), with one demo mailbox:
-- demo@example.org, password "demo", md5crypt. Remove it before real use.
CREATE TABLE IF NOT EXISTS mailbox (
  username VARCHAR(255) NOT NULL PRIMARY KEY,
  password VARCHAR(255) NOT NULL,
  name VARCHAR(255) NOT NULL DEFAULT '',
  domain VARCHAR(255) NOT NULL,
  active TINYINT(1) NOT NULL DEFAULT 1
) DEFAULT CHARSET=utf8mb4;

INSERT INTO mailbox (username, password, domain) VALUES
  ('demo@example.org', '$1$demosalt$K1vsTLMwLUBLOT9dwH/Pn0', 'example.org');

-- The daemon only reads.
REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'saslauthd'@'%';
GRANT SELECT ON postfix.mailbox TO 'saslauthd'@'%';
