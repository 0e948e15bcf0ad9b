-- lines.lua - read by the other wrk scripts with dofile (wrk runs from
-- the repository's top, as run.sh and tls-baseline.sh do): a file's
-- non-empty lines, of which there must be at least one.

function bench_lines(file, script, what)
	local t = {}
	for line in io.lines(file) do
		if #line > 0 then t[#t + 1] = line end
	end
	assert(#t > 0, script .. ": no " .. what .. " in " .. file)
	return t
end
