-- Runs an Argo CD health.lua on one object, with the globals Argo CD gives it.
--
--   lua5.1 harness.lua health.lua object.lua
--
-- object.lua returns the object as a Lua table (the test writes it from the YAML testdata,
-- as Argo CD decodes an object: maps and arrays as tables, null as nil). The script runs in
-- an environment of only what Argo CD's VM opens: the base library, the table library, a
-- safe subset of os, and the global obj. It prints the returned status and message.
local script_path, object_path = arg[1], arg[2]

local env = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  pcall = pcall, print = print, select = select, tonumber = tonumber,
  tostring = tostring, type = type, unpack = unpack, xpcall = xpcall,
  rawequal = rawequal, rawget = rawget, rawset = rawset,
  getmetatable = getmetatable, setmetatable = setmetatable,
  table = table,
  os = { clock = os.clock, date = os.date, difftime = os.difftime, time = os.time },
}
env._G = env
env.obj = dofile(object_path)

local chunk, load_error = loadfile(script_path)
if chunk == nil then
  io.stderr:write("cannot load " .. script_path .. ": " .. tostring(load_error) .. "\n")
  os.exit(2)
end
setfenv(chunk, env)
local ok, result = pcall(chunk)
if not ok then
  io.stderr:write("health.lua raised: " .. tostring(result) .. "\n")
  os.exit(3)
end
if type(result) ~= "table" then
  io.stderr:write("health.lua returned a " .. type(result) .. ", not a table\n")
  os.exit(4)
end
io.write(tostring(result.status), "\n", tostring(result.message or ""), "\n")
