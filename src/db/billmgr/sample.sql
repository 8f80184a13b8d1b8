-- =============================================================================
-- Sample data for schema.mysql.sql / schema.sqlite.sql (BILLmanager subset).
-- Plain INSERTs valid in both MariaDB and SQLite. Load the schema first.
-- MariaDB: load with a utf8mb4 client connection, e.g.
--   mysql --default-character-set=utf8mb4 billmgr < sample.sql
-- SQLite:  sqlite3 test.db < schema.sqlite.sql && sqlite3 test.db < sample.sql
--
-- Invented data (no real persons). Reference "today" is 2025-06-01.
-- Values follow the conventions documented in the schema files; the ids,
-- names and tariffs are made up. A real database would also contain the
-- provider's own account (id 1, level 29), referenced below by account.parent
-- and project.account; it is deliberately NOT inserted so that "all rows of
-- account" = the 6 clients. (No FK is declared on those two columns.)
-- INNs are checksum-valid; KPP has the usual 9-digit shape.
-- Edge cases on purpose:
--   * account 3 has 2 users and 2 legal-entity payers
--   * account 7 has no payer at all; account 4/6 have no country (NULL)
--   * payer 26 is a legal entity without RU requisites (foreign company)
--   * phones in three formats; one login/e-mail with plus-addressing;
--     a name with an apostrophe; Cyrillic everywhere else
--   * pricelist 14 is inactive ('off') but still used by services
--   * items in every status 1..5, suspended by different reasons,
--     ordered items without opendate/expiredate, a USD-priced service
-- =============================================================================

-- currency (126 = RUB; 153 = USD is an inferred id)
INSERT INTO currency (id, name, iso, symbol) VALUES (126, 'Российский рубль', 'RUB', 'руб.');
INSERT INTO currency (id, name, iso, symbol) VALUES (153, 'US Dollar', 'USD', '$');

-- project (two providers in one BILLmanager)
INSERT INTO project (id, name, account, billurl, notifyemail, country_default, active)
  VALUES (1, 'ХостКом', 1, 'https://my.hostcom.example/billmgr', 'billing@hostcom.example', 182, 'on');
INSERT INTO project (id, name, account, billurl, notifyemail, country_default, active)
  VALUES (2, 'HostCom EU', 1, 'https://eu.hostcom.example/billmgr', 'billing@eu.hostcom.example', NULL, 'on');

-- itemtype (intname = API function prefix: vds.open, vhost.delete, domain.open ...)
INSERT INTO itemtype (id, name, name_ru, intname, parent, orderpriority)
  VALUES (1, 'Virtual private servers', 'Виртуальные серверы', 'vds', NULL, 1);
INSERT INTO itemtype (id, name, name_ru, intname, parent, orderpriority)
  VALUES (2, 'Shared hosting', 'Виртуальный хостинг', 'vhost', NULL, 2);
INSERT INTO itemtype (id, name, name_ru, intname, parent, orderpriority)
  VALUES (3, 'Domains', 'Домены', 'domain', NULL, 3);

-- pricelist (tariffs)
INSERT INTO pricelist (id, name, name_ru, project, itemtype, intname, active, parent, orderpriority)
  VALUES (10, 'VDS-Start', 'VDS-Старт', 1, 1, 'vds-start', 'on', NULL, 1);
INSERT INTO pricelist (id, name, name_ru, project, itemtype, intname, active, parent, orderpriority)
  VALUES (11, 'VDS-Pro', 'VDS-Про', 1, 1, 'vds-pro', 'on', NULL, 2);
INSERT INTO pricelist (id, name, name_ru, project, itemtype, intname, active, parent, orderpriority)
  VALUES (12, 'Hosting Lite', 'Хостинг Лайт', 1, 2, 'hosting-lite', 'on', NULL, 1);
INSERT INTO pricelist (id, name, name_ru, project, itemtype, intname, active, parent, orderpriority)
  VALUES (13, '.RU', '.RU', 1, 3, 'ru', 'on', NULL, 1);
INSERT INTO pricelist (id, name, name_ru, project, itemtype, intname, active, parent, orderpriority)
  VALUES (14, 'VDS-EU-1', NULL, 2, 1, 'vds-eu-1', 'off', NULL, 1);

-- account (clients; parent 1 = provider account, level 16 = client [inferred])
INSERT INTO account (id, name, parent, level, project, country, registration_date)
  VALUES (2, 'Иванов Иван Иванович', 1, 16, 1, 182, '2024-03-14 10:22:05');
INSERT INTO account (id, name, parent, level, project, country, registration_date)
  VALUES (3, 'ООО «Ромашка»', 1, 16, 1, 182, '2022-09-10 15:03:44');
INSERT INTO account (id, name, parent, level, project, country, registration_date)
  VALUES (4, 'Patrick O''Brien', 1, 16, 2, NULL, '2025-02-03 08:47:12');
INSERT INTO account (id, name, parent, level, project, country, registration_date)
  VALUES (5, 'ИП Кузнецова Мария Сергеевна', 1, 16, 1, 182, '2025-05-30 19:15:00');
INSERT INTO account (id, name, parent, level, project, country, registration_date)
  VALUES (6, 'John Smith', 1, 16, 2, NULL, '2024-01-15 12:00:31');
INSERT INTO account (id, name, parent, level, project, country, registration_date)
  VALUES (7, 'Смирнов Алексей', 1, 16, 1, 182, '2025-05-31 23:59:59');

-- user (name = login; for clients it is the e-mail)
INSERT INTO user (id, account, name, realname, email, phone, language, level, enabled)
  VALUES (11, 2, 'ivan.ivanov@example.ru', 'Иванов Иван Иванович', 'ivan.ivanov@example.ru', '+7 (912) 345-67-89', 'ru', 16, 'on');
INSERT INTO user (id, account, name, realname, email, phone, language, level, enabled)
  VALUES (12, 3, 'petrov@romashka.example', 'Петров Пётр Петрович', 'petrov@romashka.example', '89123456789', 'ru', 16, 'on');
INSERT INTO user (id, account, name, realname, email, phone, language, level, enabled)
  VALUES (13, 3, 'a.sidorova+billing@romashka.example', 'Сидорова Анна Викторовна', 'a.sidorova+billing@romashka.example', NULL, 'ru', 16, 'on');
INSERT INTO user (id, account, name, realname, email, phone, language, level, enabled)
  VALUES (14, 4, 'patrick.obrien@example.ie', 'Patrick O''Brien', 'patrick.obrien@example.ie', '+353 87 123 4567', 'en', 16, 'on');
INSERT INTO user (id, account, name, realname, email, phone, language, level, enabled)
  VALUES (15, 5, 'kuznetsova.ms@example.ru', 'Кузнецова Мария Сергеевна', 'kuznetsova.ms@example.ru', '8-912-345-67-89', 'ru', 16, 'on');
INSERT INTO user (id, account, name, realname, email, phone, language, level, enabled)
  VALUES (16, 6, 'john.smith@example.com', 'John Smith', 'john.smith@example.com', '+1 415 555 0134', 'en', 16, 'on');
INSERT INTO user (id, account, name, realname, email, phone, language, level, enabled)
  VALUES (17, 7, 'a.smirnov@example.ru', 'Смирнов Алексей', 'a.smirnov@example.ru', NULL, 'ru', 16, 'on');

-- profile (payers): 1 individual, 2 legal entity, 3 sole proprietor
INSERT INTO profile (id, account, name, profiletype, person, email, phone, vatnum, kpp)
  VALUES (21, 2, 'Иванов Иван Иванович', 1, 'Иванов Иван Иванович', 'ivan.ivanov@example.ru', '+7 (912) 345-67-89', NULL, NULL);
INSERT INTO profile (id, account, name, profiletype, person, email, phone, vatnum, kpp)
  VALUES (22, 3, 'ООО «Ромашка»', 2, 'Петров Пётр Петрович', 'buh@romashka.example', '+7 (495) 123-45-67', '7701234560', '770101001');
INSERT INTO profile (id, account, name, profiletype, person, email, phone, vatnum, kpp)
  VALUES (23, 3, 'АО «Ромашка Трейд»', 2, 'Сидорова Анна Викторовна', 'a.sidorova+billing@romashka.example', '89123456789', '7702345672', '770201001');
INSERT INTO profile (id, account, name, profiletype, person, email, phone, vatnum, kpp)
  VALUES (24, 5, 'ИП Кузнецова Мария Сергеевна', 3, 'Кузнецова Мария Сергеевна', 'kuznetsova.ms@example.ru', '8-912-345-67-89', '771234567859', NULL);
INSERT INTO profile (id, account, name, profiletype, person, email, phone, vatnum, kpp)
  VALUES (25, 4, 'Patrick O''Brien', 1, 'Patrick O''Brien', 'patrick.obrien@example.ie', '+353 87 123 4567', NULL, NULL);
INSERT INTO profile (id, account, name, profiletype, person, email, phone, vatnum, kpp)
  VALUES (26, 6, 'Smith Consulting Ltd', 2, 'John Smith', 'john.smith@example.com', '+1 415 555 0134', NULL, NULL);

-- item (services). status: 1 ordered, 2 active, 3 suspended, 4 deleted, 5 in progress
-- processingmodule ids are arbitrary (processingmodule table not included).
INSERT INTO item (id, account, pricelist, parent, name, status, period, currency, cost, createdate, opendate, expiredate, suspenddate, autosuspend, employeesuspend, abusesuspend, scheduledclose, processingmodule, remoteid)
  VALUES (1001, 2, 10, NULL, 'ivanov-vps.ru', 2, 1, 126, 590.00, '2024-03-14', '2024-03-14', '2025-07-14', NULL, 'off', 'off', 'off', 'off', 1, NULL);
INSERT INTO item (id, account, pricelist, parent, name, status, period, currency, cost, createdate, opendate, expiredate, suspenddate, autosuspend, employeesuspend, abusesuspend, scheduledclose, processingmodule, remoteid)
  VALUES (1002, 3, 11, NULL, 'srv1.romashka.example', 2, 12, 126, 14280.00, '2023-11-01', '2023-11-01', '2025-11-01', NULL, 'off', 'off', 'off', 'off', 1, NULL);
INSERT INTO item (id, account, pricelist, parent, name, status, period, currency, cost, createdate, opendate, expiredate, suspenddate, autosuspend, employeesuspend, abusesuspend, scheduledclose, processingmodule, remoteid)
  VALUES (1003, 3, 12, NULL, 'romashka.ru', 3, 1, 126, 249.00, '2024-05-20', '2024-05-20', '2025-05-20', '2025-05-21', 'on', 'off', 'off', 'off', 2, NULL);
INSERT INTO item (id, account, pricelist, parent, name, status, period, currency, cost, createdate, opendate, expiredate, suspenddate, autosuspend, employeesuspend, abusesuspend, scheduledclose, processingmodule, remoteid)
  VALUES (1004, 3, 13, NULL, 'romashka.ru', 2, 12, 126, 199.00, '2022-09-10', '2022-09-12', '2025-09-12', NULL, 'off', 'off', 'off', 'off', 3, NULL);
INSERT INTO item (id, account, pricelist, parent, name, status, period, currency, cost, createdate, opendate, expiredate, suspenddate, autosuspend, employeesuspend, abusesuspend, scheduledclose, processingmodule, remoteid)
  VALUES (1005, 4, 14, NULL, 'vps-obrien.example.ie', 2, 1, 153, 9.99, '2025-02-03', '2025-02-03', '2025-07-03', NULL, 'off', 'off', 'off', 'on', 4, 'eu-vm-58213');
INSERT INTO item (id, account, pricelist, parent, name, status, period, currency, cost, createdate, opendate, expiredate, suspenddate, autosuspend, employeesuspend, abusesuspend, scheduledclose, processingmodule, remoteid)
  VALUES (1006, 5, 12, NULL, 'kuznetsova-shop.ru', 1, 1, 126, 249.00, '2025-05-30', NULL, NULL, NULL, 'off', 'off', 'off', 'off', NULL, NULL);
INSERT INTO item (id, account, pricelist, parent, name, status, period, currency, cost, createdate, opendate, expiredate, suspenddate, autosuspend, employeesuspend, abusesuspend, scheduledclose, processingmodule, remoteid)
  VALUES (1007, 5, 13, NULL, 'kuznetsova-shop.ru', 5, 12, 126, 199.00, '2025-05-30', NULL, NULL, NULL, 'off', 'off', 'off', 'off', 3, NULL);
INSERT INTO item (id, account, pricelist, parent, name, status, period, currency, cost, createdate, opendate, expiredate, suspenddate, autosuspend, employeesuspend, abusesuspend, scheduledclose, processingmodule, remoteid)
  VALUES (1008, 6, 14, NULL, 'vps-jsmith.example.com', 4, 1, 153, 9.99, '2024-01-15', '2024-01-15', '2024-09-15', '2024-09-16', 'on', 'off', 'off', 'off', 4, 'eu-vm-40177');
INSERT INTO item (id, account, pricelist, parent, name, status, period, currency, cost, createdate, opendate, expiredate, suspenddate, autosuspend, employeesuspend, abusesuspend, scheduledclose, processingmodule, remoteid)
  VALUES (1009, 2, 12, NULL, 'ivanov.su', 3, 12, 126, 2490.00, '2024-04-01', '2024-04-01', '2026-04-01', '2025-04-02', 'off', 'on', 'off', 'off', 2, NULL);
INSERT INTO item (id, account, pricelist, parent, name, status, period, currency, cost, createdate, opendate, expiredate, suspenddate, autosuspend, employeesuspend, abusesuspend, scheduledclose, processingmodule, remoteid)
  VALUES (1010, 7, 10, NULL, 'vps-smirnov', 1, 1, 126, 590.00, '2025-05-31', NULL, NULL, NULL, 'off', 'off', 'off', 'off', NULL, NULL);

-- itemparam: a few parameters of the services above
INSERT INTO itemparam (id, item, intname, value) VALUES (1, 1001, 'ip', '203.0.113.41');
INSERT INTO itemparam (id, item, intname, value) VALUES (2, 1001, 'ostempl', 'ISPsystem__Debian-12-x86_64');
INSERT INTO itemparam (id, item, intname, value) VALUES (3, 1009, 'domain', 'ivanov.su');

-- paymethod (payment methods; module names as ISPsystem's modules are called, the
-- bank transfer's 'pmbill' is invented)
INSERT INTO paymethod (id, name, module, active, currency, recurring, xmlparams)
  VALUES (1, 'Банковская карта', 'pmcloudpaymentswidget', 'on', 126, 'on', NULL);
INSERT INTO paymethod (id, name, module, active, currency, recurring, xmlparams)
  VALUES (2, 'Безналичный расчёт', 'pmbill', 'on', 126, 'off', NULL);
INSERT INTO paymethod (id, name, module, active, currency, recurring, xmlparams)
  VALUES (3, 'Card (USD)', 'pmnowpayments', 'on', 153, 'off', NULL);

-- subaccount (one personal account a client; client 3 owes money)
INSERT INTO subaccount (id, account, project, currency, name, balance, credit)
  VALUES (41, 2, 1, 126, 'Основной', 1250.00, 0.00);
INSERT INTO subaccount (id, account, project, currency, name, balance, credit)
  VALUES (42, 3, 1, 126, 'Основной', -540.00, 1000.00);
INSERT INTO subaccount (id, account, project, currency, name, balance, credit)
  VALUES (43, 4, 2, 153, 'Main', 0.00, 0.00);
INSERT INTO subaccount (id, account, project, currency, name, balance, credit)
  VALUES (44, 5, 1, 126, 'Основной', 0.00, 0.00);
INSERT INTO subaccount (id, account, project, currency, name, balance, credit)
  VALUES (45, 6, 2, 153, 'Main', 15.50, 0.00);
INSERT INTO subaccount (id, account, project, currency, name, balance, credit)
  VALUES (46, 7, 1, 126, 'Основной', 0.00, 0.00);

-- payment. Credited (4): 31, 32, 37; a partial refund of 31 is the negative 35
-- (payment2payment); 34 was refunded in full (6); 33 is a new invoice (1); 36 fraud (7).
INSERT INTO payment (id, subaccount, paymethod, status, number, description, subaccountamount, paymethodamount, currency, createdate, paydate, externalid, info, refund, sender)
  VALUES (31, 41, 1, 4, '2025-000031', 'Пополнение лицевого счёта', 1500.00, 1500.00, 126, '2025-05-20 11:02:10', '2025-05-20 11:03:45', 'cp-77812', NULL, NULL, 21);
INSERT INTO payment (id, subaccount, paymethod, status, number, description, subaccountamount, paymethodamount, currency, createdate, paydate, externalid, info, refund, sender)
  VALUES (32, 42, 2, 4, '2025-000032', 'Оплата по счёту', 20000.00, 20000.00, 126, '2025-05-25 09:00:00', '2025-05-27 14:30:00', NULL, NULL, NULL, 22);
INSERT INTO payment (id, subaccount, paymethod, status, number, description, subaccountamount, paymethodamount, currency, createdate, paydate, externalid, info, refund, sender)
  VALUES (33, 42, 2, 1, '2025-000033', 'Оплата по счёту', 5000.00, 5000.00, 126, '2025-05-31 10:15:00', NULL, NULL, NULL, NULL, 23);
INSERT INTO payment (id, subaccount, paymethod, status, number, description, subaccountamount, paymethodamount, currency, createdate, paydate, externalid, info, refund, sender)
  VALUES (34, 43, 3, 6, '2025-000034', 'Top-up', 9.99, 9.99, 153, '2025-04-01 08:00:00', '2025-04-01 08:01:12', 'np-5521', NULL, NULL, 25);
INSERT INTO payment (id, subaccount, paymethod, status, number, description, subaccountamount, paymethodamount, currency, createdate, paydate, externalid, info, refund, sender)
  VALUES (35, 41, 1, 4, '2025-000035', 'Возврат части платежа 2025-000031', -300.00, -300.00, 126, '2025-05-28 16:40:00', '2025-05-28 16:40:00', 'cp-77812-r1', NULL, NULL, 21);
INSERT INTO payment (id, subaccount, paymethod, status, number, description, subaccountamount, paymethodamount, currency, createdate, paydate, externalid, info, refund, sender)
  VALUES (36, 45, 3, 7, '2025-000036', 'Top-up', 50.00, 50.00, 153, '2025-05-15 22:10:00', NULL, 'np-5630', NULL, NULL, 26);
INSERT INTO payment (id, subaccount, paymethod, status, number, description, subaccountamount, paymethodamount, currency, createdate, paydate, externalid, info, refund, sender)
  VALUES (37, 46, 1, 4, '2025-000037', 'Пополнение лицевого счёта', 590.00, 590.00, 126, '2025-05-31 23:59:00', '2025-06-01 00:00:30', 'cp-78001', NULL, NULL, NULL);

INSERT INTO payment2payment (payment_base, payment_refund) VALUES (31, 35);
