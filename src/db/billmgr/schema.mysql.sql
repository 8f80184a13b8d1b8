-- =============================================================================
-- BILLmanager (COREmanager mgr5) database `billmgr` -- SUBSET for the amoCRM sync
-- plugin's tests. MariaDB / MySQL dialect.
--
-- This is NOT a dump of a real installation. Nobody on the project could run
-- BILLmanager; every column below was found in the public sources cited per table.
-- Legend used in the per-column comments:
--   [C]  confirmed: the column name is used in SQL / a DB dump / the official
--        "Database structure" doc of a public source.
--   [C-api] the name is confirmed as an API list column or form parameter; that
--        it is stored as a column of THIS table is an inference.
--   [I]  inferred (name or storage guessed, by analogy); do not rely on it.
-- Column TYPES are mostly inferred (the public sources show names and values,
-- not DDL). Real tables have many more columns than listed here, and localized
-- copies of text columns (name_ru, name_en, ... "_<lang>" suffix, per the
-- official Database structure page).
-- Foreign keys: the official doc says BILLmanager uses FKs for integrity; the
-- exact ON DELETE rules are not known here.
--
-- Relationships established from sources:
--   user.account    -> account.id   (a client may have several users; plugins
--                                    take the first by id as the main contact)
--   profile.account -> account.id   (payer belongs to ONE client; there is no
--                                    profile2account join table in any source)
--   item.account    -> account.id   (a service belongs to a client)
--   item.pricelist  -> pricelist.id ; pricelist.itemtype -> itemtype.id
--   pricelist.project -> project.id ; account.project -> project.id
--   item.currency   -> currency.id
--   item -> payer: NO direct link was found in any source. Payers are chosen per
--   payment/invoice (payment.add takes `profile`). To find "the company of a
--   deal" go item.account -> profile.account (a client may have 0..n payers).
--
-- Enumerations (as comments, see below):
--   item.status:       1 ordered, 2 active, 3 suspended, 4 deleted, 5 in progress
--   profile.profiletype: 1 individual, 2 legal entity, 3 sole proprietor
-- =============================================================================

-- -----------------------------------------------------------------------------
-- currency
-- Sources: ISPsystemLLC/billmanager paymethod/NOWPayments/nowpaymentspayment.py
--   ("SELECT iso FROM currency WHERE id = ..."); openprovider/op-billmanager5-domains
--   DBApi.php ("LEFT JOIN currency c ON c.id=pp.currency ... IFNULL(c.symbol, c.iso)");
--   MrRanMao/AezaBillManager src/etc/db_with_products.sql (currency id 126 used as
--   the RUB project currency; initialsettings call with country=182 currency=126).
-- Known ids: 126 = RUB [C-ish: Russian project/company defaults]; 153 = USD [I].
-- -----------------------------------------------------------------------------
CREATE TABLE currency (
  id      INT          NOT NULL AUTO_INCREMENT,  -- [C]
  name    VARCHAR(255) NULL,                     -- [I] obvious display name
  iso     VARCHAR(3)   NULL,                     -- [C] 'RUB', 'USD'
  symbol  VARCHAR(16)  NULL,                     -- [C] may be NULL (code falls back to iso)
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- -----------------------------------------------------------------------------
-- project  ("provider" in the UI; one BILLmanager can host several)
-- Sources: AezaBillManager db_with_products.sql (INSERT INTO project (id, name,
--   account, ..., billurl, ..., country_default, notifyemail, ..., active, ...));
--   ISPsystemLLC/billmanager cashregister/modulkassa/crmodulkassa.py
--   ("LEFT JOIN project prj ON prj.id = sa.project ... prj.billurl");
--   openprovider DBApi.php ("JOIN project ON parent.project = project.id").
-- -----------------------------------------------------------------------------
CREATE TABLE project (
  id              INT          NOT NULL AUTO_INCREMENT,  -- [C]
  name            VARCHAR(255) NOT NULL,                 -- [C]
  account         INT          NULL,   -- [C] the provider's own account (1 in the dump); no FK here
  billurl         VARCHAR(255) NULL,   -- [C] e.g. 'https://host/billmgr'
  notifyemail     VARCHAR(255) NULL,   -- [C]
  country_default INT          NULL,   -- [C] country id (182 = Russia)
  active          VARCHAR(3)   NOT NULL DEFAULT 'on',  -- [C] 'on'/'off'
  PRIMARY KEY (id),
  CONSTRAINT chk_project_active CHECK (active IN ('on','off'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- -----------------------------------------------------------------------------
-- itemtype  (product type: vds, vhost, domain, ...)
-- Sources: AezaBillManager db_with_products.sql (INSERT INTO itemtype (id,
--   orderpriority, name, intname, embedded, parent, ..., name_ru, ...));
--   ISPsystemLLC/billmanager processing/certificate/sslstore/module.cpp
--   ("select it.intname ... left join itemtype it on it.id=p.itemtype");
--   openprovider DBApi.php (it.intname, it.name_ru, it.orderpriority);
--   zaqwer101/docker_billmgr billmanager_init.sh ("SELECT id FROM itemtype WHERE intname='other'").
-- intname is also the API function prefix: vds -> vds.open / vds.edit / vds.delete.
-- -----------------------------------------------------------------------------
CREATE TABLE itemtype (
  id            INT          NOT NULL AUTO_INCREMENT,  -- [C]
  name          VARCHAR(255) NULL,   -- [C] (localized copy in name_ru)
  name_ru       VARCHAR(255) NULL,   -- [C]
  intname       VARCHAR(64)  NOT NULL, -- [C] 'vds', 'vhost', 'domain'
  parent        INT          NULL,   -- [C] addon item types point to the main type
  orderpriority INT          NULL,   -- [C]
  PRIMARY KEY (id),
  CONSTRAINT fk_itemtype_parent FOREIGN KEY (parent) REFERENCES itemtype (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- -----------------------------------------------------------------------------
-- pricelist  (tariff plan; addons are pricelists with parent = main tariff)
-- Sources: AezaBillManager db_with_products.sql (INSERT INTO pricelist (id,
--   orderpriority, name, project, itemtype, ..., billtype, ..., active, intname, ...,
--   parent, ..., name_ru, ...)); AezaBillManager billmgr_mod_service_vds-aeza.xml
--   filter ("sqlname=\"p.project\"", "p.id"); sslstore module.cpp
--   ("left join pricelist p on p.id=i.pricelist", "p.intname as pricelist_intname",
--   "p.active = 'on'"); ISPsystemLLC pmregistrar.php ("JOIN pricelist p ON p.id = i.pricelist").
-- Prices themselves live in pricelistprice(pricelist, currency, price) -> price(...)
--   [C, Aeza dump]; not needed for the sync, so not included.
-- -----------------------------------------------------------------------------
CREATE TABLE pricelist (
  id            INT          NOT NULL AUTO_INCREMENT,  -- [C]
  name          VARCHAR(255) NULL,   -- [C] may be NULL when only name_ru is set (seen in dump)
  name_ru       VARCHAR(255) NULL,   -- [C]
  project       INT          NULL,   -- [C]
  itemtype      INT          NOT NULL, -- [C]
  intname       VARCHAR(255) NULL,   -- [C]
  active        VARCHAR(3)   NOT NULL DEFAULT 'on', -- [C] 'on'/'off'
  parent        INT          NULL,   -- [C] main tariff for addon pricelists
  orderpriority INT          NULL,   -- [C]
  PRIMARY KEY (id),
  CONSTRAINT chk_pricelist_active CHECK (active IN ('on','off')),
  CONSTRAINT fk_pricelist_project  FOREIGN KEY (project)  REFERENCES project (id),
  CONSTRAINT fk_pricelist_itemtype FOREIGN KEY (itemtype) REFERENCES itemtype (id),
  CONSTRAINT fk_pricelist_parent   FOREIGN KEY (parent)   REFERENCES pricelist (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- -----------------------------------------------------------------------------
-- account  (a CLIENT; the table also holds the provider account and client
--           groups per the official doc -- a real DB has account id 1 = provider)
-- Sources: ispsystem.com/docs/b6c/developer-section/database-structure ("account —
--   Information about accounts and client groups: id, name, parent (by default 1),
--   level: 29 — provider ..."); dogee4803/billmanager_paymethod payment.py and
--   gresskarett/BILLmanager-custom-Tinkoff-payment-module customtinkoff/payment.py
--   ("SELECT u.*, IFNULL(c.iso2,'EN') AS country, a.registration_date FROM user u
--   LEFT JOIN account a ON a.id=u.account LEFT JOIN country c ON c.id=a.country");
--   AezaBillManager vds xml filter ("sqlname=\"a.name\"", "a.id");
--   API: ispsystem.com/docs/b6c/.../clients-account-subaccount (list columns name,
--   project, balance, account_status, tz_registration_date; `register` params
--   email, passwd, realname, phone, country, state, project); openprovider Api.php
--   account.edit params (email, project, country, realname, passwd, label, notify,
--   employee, attitude).
-- Balance is kept per subaccount (currency x project), not here [C-api: list
--   column only]; not included.
-- -----------------------------------------------------------------------------
CREATE TABLE account (
  id                INT          NOT NULL AUTO_INCREMENT, -- [C]
  name              VARCHAR(255) NOT NULL, -- [C] client name (person or company)
  parent            INT          NULL,     -- [C] "by default 1"; no FK declared here
  level             INT          NULL,     -- [C] 29 = provider; clients = 16 [I]
  project           INT          NULL,     -- [C-api] provider the client registered in
  country           INT          NULL,     -- [C] country id (182 = Russia); country table not included
  registration_date DATETIME     NULL,     -- [C] name; type [I]
  PRIMARY KEY (id),
  CONSTRAINT fk_account_project FOREIGN KEY (project) REFERENCES project (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- -----------------------------------------------------------------------------
-- user  (login of a client; several users per account are possible)
-- Sources: payment.py / customtinkoff/payment.py (u.id, u.phone, u.email,
--   u.realname, u.language, u.account); pulivilizator/billmgr-addon
--   billmgr_addon/auth/auth.py (user.id, user.name, user.realname, user.level,
--   "user.enabled = 'on'"); Datahider/lhBillmgrInterface lhUser.php
--   (user.phone, user.email, "user.level = 16|28|29"); ISPsystemLLC bill-nextcloud
--   src/utils/misc.py ("SELECT email FROM user WHERE account=%s ORDER BY id ASC");
--   ISPsystemLLC/jabber gwjabber.cpp ("SELECT id, account, name FROM user ...");
--   openprovider Database.php (user looked up by `id` or `name`);
--   API: ispsystem.com/docs/b6c/.../users-user (id, name, realname, email, account, status).
-- name is the LOGIN; for clients registered via `register` it is the e-mail
--   ("email — login and email of a new client").
-- level: 16 = client user, 28 = department/support, 29 = admin staff [C, lhUser.php];
--   30 = superuser [I, ISPmanager docs for mgr5 AUTH_LEVEL].
-- -----------------------------------------------------------------------------
CREATE TABLE user (
  id        INT          NOT NULL AUTO_INCREMENT, -- [C]
  account   INT          NOT NULL,  -- [C]
  name      VARCHAR(255) NOT NULL,  -- [C] login
  realname  VARCHAR(255) NULL,      -- [C]
  email     VARCHAR(255) NULL,      -- [C]
  phone     VARCHAR(64)  NULL,      -- [C] free text, no normalization guaranteed
  language  VARCHAR(8)   NULL,      -- [C] e.g. 'ru', 'en'
  level     INT          NOT NULL DEFAULT 16, -- [C]
  enabled   VARCHAR(3)   NOT NULL DEFAULT 'on', -- [C] 'on'/'off'
  PRIMARY KEY (id),
  KEY idx_user_account (account),
  CONSTRAINT chk_user_enabled CHECK (enabled IN ('on','off')),
  CONSTRAINT fk_user_account FOREIGN KEY (account) REFERENCES account (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- -----------------------------------------------------------------------------
-- profile  (PAYER of a client)
-- Sources: API ispsystem.com/docs/b6c/developer-section/billmanager-api/payers-profile
--   (func `profile` list: id, name, account — Client, profiletype — Payer status);
--   en.ispdoc.com/index.php/Database_structure (old mgr4 wiki: "profile ... id — payer
--   unique identifier, name, account — link to ..."); openprovider Api.php
--   (profile.edit with profiletype 1 = person, 2 = organization, 3 = proprietor;
--   params name, person, vatnum (passed the INN), country_legal/postcode_legal/
--   city_legal/address_legal, country_physical/..., su, sok); a public BILLmanager 6
--   React client reading profile.edit fields email, phone, person, name,
--   eu_vat, passport, maildocs, profiletype.
-- profiletype: 1 = individual (физ. лицо), 2 = legal entity (юр. лицо),
--   3 = sole proprietor (ИП) [C].
-- Only id/name/account/profiletype are confirmed as columns. The contact and
--   requisite columns below are FORM FIELD NAMES [C-api]; whether BILLmanager
--   stores them as columns of `profile` or in a separate parameters table was not
--   verified. `kpp` was NOT seen for payers at all: it is used for domain contacts
--   (service_profile: inn, kpp, ogrn in openprovider Api.php) and is added here by
--   analogy [I]. Sync code should tolerate these columns being absent.
-- -----------------------------------------------------------------------------
CREATE TABLE profile (
  id          INT          NOT NULL AUTO_INCREMENT, -- [C]
  account     INT          NOT NULL,  -- [C]
  name        VARCHAR(255) NOT NULL,  -- [C] payer name (company name for legal entities)
  profiletype INT          NOT NULL,  -- [C] 1 / 2 / 3
  person      VARCHAR(255) NULL,      -- [C-api] contact person
  email       VARCHAR(255) NULL,      -- [C-api]
  phone       VARCHAR(64)  NULL,      -- [C-api]
  vatnum      VARCHAR(32)  NULL,      -- [C-api] INN (ИНН) for RU payers
  kpp         VARCHAR(16)  NULL,      -- [I] KPP (КПП), legal entities only
  PRIMARY KEY (id),
  KEY idx_profile_account (account),
  CONSTRAINT chk_profile_type CHECK (profiletype IN (1,2,3)),
  CONSTRAINT fk_profile_account FOREIGN KEY (account) REFERENCES account (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- -----------------------------------------------------------------------------
-- item  (a SERVICE of a client: VPS, hosting, domain, ...; addons are items with
--        parent = main item)
-- Sources: openprovider DBApi.php getDomainInfo ("SELECT id, pricelist, account,
--   period, currency, status, createdate, expiredate, opendate, addonbool, boolvalue,
--   autosuspend, employeesuspend, abusesuspend, cost, costperiod, costdate,
--   autoassign, specialstatus, scheduledclose, processingmodule FROM item");
--   openprovider Registrar.php ("SELECT expiredate, suspenddate FROM item");
--   sslstore module.cpp (i.id, i.remoteid, i.processingmodule, i.pricelist,
--   i.period, i.status, i.expiredate, i.opendate, "SELECT name FROM item",
--   "SELECT lastpricelist FROM item", "i.parent = <iid>");
--   ISPsystemLLC pmregistrar.php (i.status AS item_status, i.expiredate);
--   bill-pter-bridge utils/misc.py ("... JOIN item i ON i.id=icp.item WHERE ...
--   i.account=%(acc_id)s"); AezaBillManager vds xml (cost column, i.createdate,
--   i.period, i.status filters; status colors 1..5 and 3_autosuspend /
--   3_abusesuspend / 3_employeesuspend).
-- period: months; >0 months, -100 trial, -50 day, 0 lifetime [C, BILLmanager
--   "Integration with website" doc, PERIOD_ID].
-- status: 1 = ordered (in cart / awaiting payment)  [I: docs status list + color]
--         2 = active                                [C: openprovider "it.status = '2'"]
--         3 = suspended (see *suspend flags)        [C: openprovider resumes status 3]
--         4 = deleted                               [C: openprovider skips status 4;
--                                                       delete button hidden for 4]
--         5 = in progress (being opened/processed)  [C: "open" button shown only for 5;
--                                                       docs "In progress"]
-- Suspend reason flags ('on'/'off'): autosuspend (expired/unpaid), employeesuspend
--   (by administrator), abusesuspend (abuse) [C names; meaning from docs statuses].
-- Item parameters (domain name, IP, ...) live in itemparam(item, intname, value) [C];
--   not included.
-- -----------------------------------------------------------------------------
CREATE TABLE item (
  id               INT           NOT NULL AUTO_INCREMENT, -- [C]
  account          INT           NOT NULL,  -- [C]
  pricelist        INT           NOT NULL,  -- [C]
  parent           INT           NULL,      -- [C] main item of an addon
  name             VARCHAR(255)  NULL,      -- [C] usually domain / hostname
  status           INT           NOT NULL,  -- [C] 1..5, see above
  period           INT           NULL,      -- [C] months (see above)
  currency         INT           NULL,      -- [C]
  cost             DECIMAL(12,2) NULL,      -- [C] name; type [I]
  createdate       DATE          NULL,      -- [C] order date; type [I]
  opendate         DATE          NULL,      -- [C] activation date; NULL until opened [I]
  expiredate       DATE          NULL,      -- [C] paid until
  suspenddate      DATE          NULL,      -- [C]
  autosuspend      VARCHAR(3)    NOT NULL DEFAULT 'off', -- [C]
  employeesuspend  VARCHAR(3)    NOT NULL DEFAULT 'off', -- [C]
  abusesuspend     VARCHAR(3)    NOT NULL DEFAULT 'off', -- [C]
  scheduledclose   VARCHAR(3)    NOT NULL DEFAULT 'off', -- [C] delete after paid period
  processingmodule INT           NULL,      -- [C] processingmodule.id (table not included)
  remoteid         VARCHAR(255)  NULL,      -- [C] id on the reseller/remote side
  PRIMARY KEY (id),
  KEY idx_item_account (account),
  KEY idx_item_pricelist (pricelist),
  CONSTRAINT chk_item_status CHECK (status IN (1,2,3,4,5)),
  CONSTRAINT chk_item_autosuspend CHECK (autosuspend IN ('on','off')),
  CONSTRAINT chk_item_employeesuspend CHECK (employeesuspend IN ('on','off')),
  CONSTRAINT chk_item_abusesuspend CHECK (abusesuspend IN ('on','off')),
  CONSTRAINT chk_item_scheduledclose CHECK (scheduledclose IN ('on','off')),
  CONSTRAINT fk_item_account   FOREIGN KEY (account)   REFERENCES account (id),
  CONSTRAINT fk_item_pricelist FOREIGN KEY (pricelist) REFERENCES pricelist (id),
  CONSTRAINT fk_item_parent    FOREIGN KEY (parent)    REFERENCES item (id),
  CONSTRAINT fk_item_currency  FOREIGN KEY (currency)  REFERENCES currency (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- itemparam: a service's parameters (domain name, IP address, OS template...), one row each.
-- Columns item, intname, value [C] (ISPsystemLLC/billmanager bill-pter-bridge utils/misc.py,
-- ea0hw33/billmgr misc.py); id and types [I].
CREATE TABLE itemparam (
  id      INT NOT NULL AUTO_INCREMENT,
  item    INT NOT NULL,
  intname VARCHAR(64) NOT NULL,
  value   TEXT,
  PRIMARY KEY (id),
  KEY idx_itemparam_item (item),
  CONSTRAINT fk_itemparam_item FOREIGN KEY (item) REFERENCES item (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- =============================================================================
-- Money: payment methods, personal accounts (balances), payments and refunds.
-- Evidence per column as above; the sources are ISPsystem's own payment modules
-- (ISPsystemLLC/billmanager paymethod/NOWPayments, cloudpayments, qiwipull,
-- cashregister/modulkassa), a third-party script's SELECT column lists run against
-- a real panel (public file id 70123713405, "EXPORT"), and the payments API pages
-- (ispsystem.com/docs/b6c/developer-section/billmanager-api/payments-payment).
-- No public CREATE TABLE exists for any of them: types are inferred throughout.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- paymethod (a payment method the provider set up)
-- Sources: NOWPayments/cloudpayments (pay.paymethod = pm.id, pm.module, pm.xmlparams);
--   EXPORT (id, name, module, active, currency, recurring).
-- -----------------------------------------------------------------------------
CREATE TABLE paymethod (
  id        INT          NOT NULL AUTO_INCREMENT, -- [C]
  name      VARCHAR(255) NULL,      -- [C]
  module    VARCHAR(64)  NULL,      -- [C] e.g. 'pmnowpayments'
  active    VARCHAR(3)   NOT NULL DEFAULT 'on', -- [C] name; 'on'/'off' [I]
  currency  INT          NULL,      -- [C] currency of paymethodamount
  recurring VARCHAR(3)   NULL,      -- [C] name; type [I]
  xmlparams TEXT         NULL,      -- [C] the module's settings (secrets: never read)
  PRIMARY KEY (id),
  CONSTRAINT fk_paymethod_currency FOREIGN KEY (currency) REFERENCES currency (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- -----------------------------------------------------------------------------
-- subaccount (a client's personal account, one per provider and currency)
-- Sources: Snarov/billmgr-modules Notifier (account a JOIN subaccount sa ON
--   a.id = sa.account); crmodulkassa.py (sa.project); EXPORT (payment JOIN
--   subaccount s ON s.id = p.subaccount WHERE s.account ...). The balance, credit
--   limit and currency are UI fields (ISPWiki "Account information"); their COLUMN
--   NAMES were found in no public SQL.
-- -----------------------------------------------------------------------------
CREATE TABLE subaccount (
  id       INT           NOT NULL AUTO_INCREMENT, -- [C]
  account  INT           NOT NULL,  -- [C] -> account.id
  project  INT           NULL,      -- [C] -> project.id
  currency INT           NULL,      -- [I] the UI shows a currency per personal account
  name     VARCHAR(255)  NULL,      -- [I] UI "Account name"
  balance  DECIMAL(14,2) NOT NULL DEFAULT 0, -- [I] UI "Balance of account"; name NOT confirmed
  credit   DECIMAL(14,2) NOT NULL DEFAULT 0, -- [I] UI "Credit limit"; name NOT confirmed
  PRIMARY KEY (id),
  KEY idx_subaccount_account (account),
  CONSTRAINT fk_subaccount_account  FOREIGN KEY (account)  REFERENCES account (id),
  CONSTRAINT fk_subaccount_project  FOREIGN KEY (project)  REFERENCES project (id),
  CONSTRAINT fk_subaccount_currency FOREIGN KEY (currency) REFERENCES currency (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- -----------------------------------------------------------------------------
-- payment
-- status [C docs + ISPsystem's module sample]: 1 new, 2 in payment (setinpay),
--   3 reserved (set by staff), 4 credited (setpaid), 5 awaiting refund, 6 refunded,
--   7 fraudulent (setfraud), 8 initiated, 9 cancelled (setcanceled), 100 being deleted.
-- A full refund sets the payment to 6; a partial one makes a new negative payment,
--   linked to the first by payment2payment [C docs: refunds page; EXPORT].
-- Client of a payment: payment.subaccount -> subaccount.account [C].
-- -----------------------------------------------------------------------------
CREATE TABLE payment (
  id               INT           NOT NULL AUTO_INCREMENT, -- [C]
  subaccount       INT           NULL,      -- [C] -> subaccount.id
  paymethod        INT           NULL,      -- [C] -> paymethod.id
  status           INT           NOT NULL DEFAULT 1, -- [C] codes above
  number           VARCHAR(64)   NULL,      -- [C] "invoice number for payment"
  description      TEXT          NULL,      -- [C]
  subaccountamount DECIMAL(14,2) NULL,      -- [C] amount credited to the personal account
  paymethodamount  DECIMAL(14,2) NULL,      -- [C] amount in the payment method's currency
  currency         INT           NULL,      -- [C] name; which currency it is [I]
  createdate       DATETIME      NULL,      -- [C] 'YYYY-MM-DD HH:MM:SS'
  paydate          DATETIME      NULL,      -- [C-api] crediting date; NULL until credited [I]
  externalid       VARCHAR(255)  NULL,      -- [C] the gateway's id
  info             TEXT          NULL,      -- [C] the gateway's text
  refund           INT           NULL,      -- [C] name; meaning [I]
  sender           INT           NULL,      -- [C-api] the payer (profile.id)
  PRIMARY KEY (id),
  KEY idx_payment_subaccount (subaccount),
  KEY idx_payment_status (status),
  CONSTRAINT fk_payment_subaccount FOREIGN KEY (subaccount) REFERENCES subaccount (id),
  CONSTRAINT fk_payment_paymethod  FOREIGN KEY (paymethod)  REFERENCES paymethod (id),
  CONSTRAINT fk_payment_currency   FOREIGN KEY (currency)   REFERENCES currency (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- payment2payment: a refund's payment and the payment it returns [C names, EXPORT]
CREATE TABLE payment2payment (
  payment_base   INT NOT NULL, -- [C] the original payment
  payment_refund INT NOT NULL, -- [C] the refund (negative) payment
  PRIMARY KEY (payment_base, payment_refund), -- [I]
  CONSTRAINT fk_p2p_base   FOREIGN KEY (payment_base)   REFERENCES payment (id),
  CONSTRAINT fk_p2p_refund FOREIGN KEY (payment_refund) REFERENCES payment (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
