-- fetch.lua - wrk script: a company's GET /v1/profile, one bearer token
-- per request, taken from a file of tokens (one per line).
--
--   wrk ... -s bench/fetch.lua URL -- TOKENS_FILE MODE
--
-- MODE "warm": every thread cycles round-robin over all the tokens (each
-- is seen many times).  MODE "cold": the file is split between the
-- threads, each token is sent once; a thread that runs out wraps to the
-- start of its share and counts the wrap, reported at the end (a cold run
-- with wraps is not cold: give the loader more tokens).  URL's path is
-- ignored; the request is always GET /v1/profile.  Non-2xx answers show
-- in wrk's own "Non-2xx or 3xx responses" line.  BENCH_THREADS must equal
-- wrk's -t for the cold split.

dofile("bench/lines.lua")

local tokens_file
mode = nil -- global: done() reads it through thread:get
local reqs, n, i = {}, 0, 0
wraps = 0 -- global: done() reads it through thread:get
local threads = {}

function setup(thread)
	thread:set("tid", #threads)
	table.insert(threads, thread)
end

function init(args)
	tokens_file = args[1] or os.getenv("BENCH_TOKENS")
	mode = args[2] or os.getenv("BENCH_MODE") or "warm"
	assert(tokens_file, "fetch.lua: no token file (wrk ... -- FILE MODE)")
	local all = bench_lines(tokens_file, "fetch.lua", "tokens")
	local first, last = 1, #all
	if mode == "cold" then
		local nt = tonumber(os.getenv("BENCH_THREADS") or "2")
		local per = math.floor(#all / nt)
		first = tid * per + 1
		last = first + per - 1
	end
	for k = first, last do
		n = n + 1
		reqs[n] = wrk.format("GET", "/v1/profile",
			{ ["Authorization"] = "Bearer " .. all[k] })
	end
	assert(n > 0, "fetch.lua: no tokens in " .. tokens_file)
	-- warm: threads start at different points of the same rotation
	if mode ~= "cold" then i = (tid * 4099) % n end
end

function request()
	i = i + 1
	if i > n then
		i = 1
		wraps = wraps + 1
	end
	return reqs[i]
end

function done(summary, latency, requests)
	local w, mode = 0, threads[1] and threads[1]:get("mode")
	for _, t in ipairs(threads) do
		w = w + (t:get("wraps") or 0)
	end
	io.write(string.format("fetch.lua: mode %s wraps %d\n", mode or "?", w))
end
