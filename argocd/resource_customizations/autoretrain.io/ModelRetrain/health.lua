-- Argo CD health of a ModelRetrain (autoretrain.io/v1alpha1).
--
-- Healthy: a champion serves and no run is in progress (or no model was promoted yet and
-- nothing is wrong). Progressing: the operator has not caught up with the spec, or a run
-- is in progress. Suspended: spec.suspend. Degraded: the artifact store cannot be read,
-- or the last run failed.
--
-- Only the libraries Argo CD opens are used (base, table): no string or math library.
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the ModelRetrain"
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local store = condition("ArtifactStoreReady")
if store ~= nil and store.status == "False" then
  hs.status = "Degraded"
  hs.message = "Artifact store: " .. tostring(store.message or store.reason)
  return hs
end

local phase = obj.status.phase
if phase == "Degraded" then
  local degraded = condition("Degraded")
  hs.status = "Degraded"
  hs.message = "Last run failed"
  if degraded ~= nil and degraded.message ~= nil and degraded.message ~= "" then
    hs.message = "Last run failed: " .. degraded.message
  end
  return hs
end

if phase == "Running" then
  hs.status = "Progressing"
  hs.message = "Run " .. tostring(obj.status.activeRun) .. " in progress"
  if obj.status.canaryWeight ~= nil then
    hs.message = hs.message .. ", canary at " .. tostring(obj.status.canaryWeight) .. "%"
  end
  return hs
end

if phase == "Suspended" or obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Scheduled runs are suspended"
  return hs
end

hs.status = "Healthy"
if obj.status.champion ~= nil then
  hs.message = "Champion " .. tostring(obj.status.champion.version) .. " serves"
else
  hs.message = "No model promoted yet"
end
return hs
