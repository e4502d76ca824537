-- wrk script: POST /v1/incidents with a varied body (category and a point in the demo city) and a token.
local categories = {"city.garbage", "safety.fire", "env.noise", "dispute.neighbour", "infra.facility", "city.parking"}
local token = os.getenv("BENCH_TOKEN")
math.randomseed(os.time())

request = function()
  local lon = 120.60 + math.random() * 0.06
  local lat = 31.30 + math.random() * 0.04
  local body = string.format(
    '{"source":"gridworker","category":"%s","urgency":"normal","title":"bench report","location":{"lon":%.6f,"lat":%.6f}}',
    categories[math.random(#categories)], lon, lat)
  return wrk.format("POST", "/v1/incidents",
                    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
