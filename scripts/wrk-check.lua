-- wrk script of Canopy's throughput benchmarks: checks EVERY response (status 200 and a
-- marker of the real content, the first argument after `--`) and prints, apart from wrk's own
-- rate, how many answers were the page and how many were not (by status; 200s without the
-- marker). An error page served fast is not throughput.
--   wrk ... -s scripts/wrk-check.lua URL -- 'data-testid="energy-totals"'
-- Prints one line `checked: <ok> ok, <failed> failed (<status>x<count> ..., <k> without the
-- marker), <rate> good responses/s` that scripts read.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    marker = args[1] or error("wrk-check.lua needs the content marker after --")
    ok = 0
    no_marker = 0
    -- "503=21 500=1": counts by status, as text (wrk copies plain values between threads).
    failed_statuses = ""
    counts = {}
end

function response(status, headers, body)
    if status ~= 200 then
        counts[status] = (counts[status] or 0) + 1
        local parts = {}
        for code, count in pairs(counts) do
            table.insert(parts, code .. "=" .. count)
        end
        failed_statuses = table.concat(parts, " ")
    elseif body == nil or not string.find(body, marker, 1, true) then
        no_marker = no_marker + 1
    else
        ok = ok + 1
    end
end

function done(summary, latency, requests)
    local total_ok, total_no_marker, by_status = 0, 0, {}
    for _, thread in ipairs(threads) do
        total_ok = total_ok + thread:get("ok")
        total_no_marker = total_no_marker + thread:get("no_marker")
        for code, count in string.gmatch(thread:get("failed_statuses"), "(%d+)=(%d+)") do
            by_status[code] = (by_status[code] or 0) + tonumber(count)
        end
    end
    local failed, parts = total_no_marker, {}
    for code, count in pairs(by_status) do
        failed = failed + count
        table.insert(parts, "status " .. code .. " x" .. count)
    end
    -- Socket errors (connect, read, write, timeout) never reach response(): failed too.
    local socket = summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.timeout
    if socket > 0 then
        failed = failed + socket
        table.insert(parts, "socket errors x" .. socket)
    end
    if total_no_marker > 0 then
        table.insert(parts, "200 without the marker x" .. total_no_marker)
    end
    local seconds = summary.duration / 1e6
    io.write(string.format("checked: %d ok, %d failed (%s), %.2f good responses/s\n",
        total_ok, failed, #parts > 0 and table.concat(parts, ", ") or "none",
        total_ok / seconds))
end
