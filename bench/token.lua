-- token.lua - wrk script: token issuance, POST /oauth/token with the
-- grant grant type, the company's client credentials in HTTP Basic, one
-- grant id per request in rotation from a file (one per line).
--
--   wrk ... -s bench/token.lua URL -- GRANTS_FILE BASIC_CREDENTIALS
--
-- BASIC_CREDENTIALS is base64("client_id:client_secret").  Each request
-- issues an access token and a refresh token: a signature and a durable
-- write (shared commits).

dofile("bench/lines.lua")

local reqs, n, i = {}, 0, 0

function init(args)
	local file, basic = args[1], args[2]
	assert(file and basic, "token.lua: wrk ... -- GRANTS_FILE BASIC")
	local headers = {
		["Authorization"] = "Basic " .. basic,
		["Content-Type"] = "application/x-www-form-urlencoded",
	}
	for _, id in ipairs(bench_lines(file, "token.lua", "grant ids")) do
		n = n + 1
		reqs[n] = wrk.format("POST", "/oauth/token", headers,
			"grant_type=urn%3Accx%3Aparams%3Aoauth%3Agrant-type%3Agrant"
			.. "&grant_id=" .. id)
	end
	i = math.random(n) - 1
end

function request()
	i = i % n + 1
	return reqs[i]
end
