-- Dovecot's passdb through saslauthd-mysql: IMAP, POP3 and ManageSieve passwords are checked
-- by the daemon that checks Postfix's, with the same rules, caches, throttle and re-hashing.
-- Install as /etc/dovecot/saslauthd-mysql.lua; auth-saslauthd-mysql.conf.ext beside this file
-- names it (docs/dovecot.md walks the switch). Needs dovecot-auth-lua and lua-socket.
--
-- Each login is one request on the daemon's saslauthd socket, as Cyrus SASL 2.2 sends it: the
-- login, the password, Dovecot's service name (imap, pop3, sieve), an empty realm, and the
-- client's address ("ip;port"), which the daemon's throttle and owner addresses use. Its answer:
-- OK is a success, NO a wrong password or unknown user (the daemon does not say which), and no
-- answer (a database it cannot reach, its deadline) a temporary failure, never a wrong password.
-- The password goes to the socket only; nothing here logs it.

local unix = require "socket.unix"

-- Where the daemon listens: SASLAUTHD_MYSQL_SOCKET from Dovecot's import_environment, or its default.
local SOCKET = os.getenv("SASLAUTHD_MYSQL_SOCKET") or "/run/saslauthd/mux"
-- Above the daemon's own answer deadline (--answer-timeout, 10 s by default), so the daemon decides.
local TIMEOUT_SECONDS = 15
-- saslauthd's protocol counts each field in two bytes; the daemon refuses anything longer than a login needs.
local MAX_FIELD = 65535

function script_init()
  return 0
end

function script_deinit()
end

local function field(value)
  value = value or ""
  if #value > MAX_FIELD then
    return nil
  end
  return string.pack(">s2", value)
end

-- Dovecot's service name (imap, pop3, sieve): request.service in 2.3, request.protocol in 2.4.
local function service_of(req)
  if req.protocol ~= nil and req.protocol ~= "" then
    return req.protocol
  end
  return req.service
end

-- The daemon's answer ("OK..." or "NO..."), or nil and why there is none.
local function ask(req, password)
  local request = {field(req.user), field(password), field(service_of(req)), field("")}
  local address = ""
  if req.remote_ip ~= nil and req.remote_ip ~= "" then
    address = req.remote_ip .. ";" .. tostring(req.remote_port or 0)
  end
  request[5] = field(address)
  for i = 1, 5 do
    if request[i] == nil then
      return nil, "a field is longer than the protocol carries"
    end
  end
  local conn = unix()
  conn:settimeout(TIMEOUT_SECONDS)
  local ok, err = conn:connect(SOCKET)
  if not ok then
    conn:close()
    return nil, "cannot connect to " .. SOCKET .. ": " .. tostring(err)
  end
  ok, err = conn:send(table.concat(request))
  if not ok then
    conn:close()
    return nil, "cannot send to " .. SOCKET .. ": " .. tostring(err)
  end
  local head
  head, err = conn:receive(2)
  if head == nil then
    conn:close()
    return nil, "no answer from " .. SOCKET .. " (" .. tostring(err) .. "): a temporary failure on the daemon's side, its log says why"
  end
  local length = string.unpack(">I2", head)
  local body = ""
  if length > 0 then
    body, err = conn:receive(length)
    if body == nil then
      conn:close()
      return nil, "a cut answer from " .. SOCKET .. ": " .. tostring(err)
    end
  end
  conn:close()
  return body
end

-- No extra fields. Dovecot 2.4 takes a success's fields only as a table and a failure's second
-- value only as a string (its message); 2.3 takes both, and an empty string as no fields.
function auth_password_verify(req, password)
  local answer, why = ask(req, password)
  if answer == nil then
    req:log_error("saslauthd-mysql: " .. why)
    return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, ""
  end
  if answer:sub(1, 2) == "OK" then
    return dovecot.auth.PASSDB_RESULT_OK, {}
  end
  if #answer >= 2 then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, ""
  end
  return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, ""
end

-- Mechanisms that need the stored value itself (CRAM-MD5, DIGEST-MD5) cannot go through the
-- daemon, which never hands a stored value out: list only plain, login in auth_mechanisms.
function auth_passdb_lookup(req)
  return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, ""
end
