-- wrk script for benchmarks/serving.py (settings come from the environment).
--
--   BENCH_MODE   "recommend": GET /v1/users/{random user}/recommendations?k=BENCH_K
--                "ingest":    POST /v1/events with BENCH_BATCH events, unique event ids
--   BENCH_USERS, BENCH_ITEMS   ids are "0" .. n-1
--   BENCH_KEY    API key sent as X-API-Key
--   BENCH_NONCE  prefix that keeps event ids unique across runs
--   BENCH_SEED   base seed of each thread's random ids
--
-- done() prints one line "RESULT {json}" that serving.py parses.

local mode = os.getenv("BENCH_MODE") or "recommend"
local n_users = tonumber(os.getenv("BENCH_USERS") or "1000")
local n_items = tonumber(os.getenv("BENCH_ITEMS") or "1000")
local k = os.getenv("BENCH_K") or "10"
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local nonce = os.getenv("BENCH_NONCE") or "run"
local seed = tonumber(os.getenv("BENCH_SEED") or "0")
local headers = {["X-API-Key"] = os.getenv("BENCH_KEY") or "", ["Content-Type"] = "application/json"}

local next_thread = 1
function setup(thread)
   thread:set("thread_id", next_thread)
   next_thread = next_thread + 1
end

local counter = 0
function init(args)
   math.randomseed(seed * 1000 + (thread_id or 0))
end

local function recommend()
   local user = math.random(0, n_users - 1)
   return wrk.format("GET", "/v1/users/" .. user .. "/recommendations?k=" .. k, headers)
end

local function ingest()
   local rows = {}
   for i = 1, batch do
      counter = counter + 1
      rows[i] = string.format(
         '{"event_id":"%s-%d-%d","user_id":"%d","item_id":"%d","event":"view"}',
         nonce, thread_id or 0, counter, math.random(0, n_users - 1), math.random(0, n_items - 1))
   end
   return wrk.format("POST", "/v1/events", headers, "[" .. table.concat(rows, ",") .. "]")
end

request = mode == "ingest" and ingest or recommend

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'RESULT {"requests":%d,"duration_us":%d,"non_2xx":%d,"connect_errors":%d,' ..
      '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p95_us":%d,' ..
      '"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
      summary.requests, summary.duration, errors.status, errors.connect, errors.read,
      errors.write, errors.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(95), latency:percentile(99), latency.mean, latency.max))
end
