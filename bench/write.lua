-- write.lua - wrk script: durable profile writes, PATCH /v1/me/profile
-- (RFC 7396) with If-Match: *, one customer session per request in
-- rotation from a file of session tokens (one per line).  Successive
-- writes of a customer alternate its language, so every write changes
-- the stored profile and is committed to disk before its answer.
--
--   wrk ... -s bench/write.lua URL -- SESSIONS_FILE

dofile("bench/lines.lua")

local sessions, n, i, k = {}, 0, 0, 0
local langs = { "en-GB", "fr-FR" }

function init(args)
	local file = args[1]
	assert(file, "write.lua: wrk ... -- SESSIONS_FILE")
	sessions = bench_lines(file, "write.lua", "sessions")
	n = #sessions
	i = math.random(n) - 1
end

function request()
	i = i % n + 1
	k = k + 1
	return wrk.format("PATCH", "/v1/me/profile", {
		["Authorization"] = "Bearer " .. sessions[i],
		["Content-Type"] = "application/merge-patch+json",
		["If-Match"] = "*",
	}, '{"language":"' .. langs[k % 2 + 1] .. '"}')
end
