-- Argo CD health of a ModelRetrainRun (autoretrain.io/v1alpha1), one retraining attempt.
--
-- Progressing while it trains, gates, canaries or promotes; Suspended while its canary
-- holds for a person (an indefinite pause, or Inconclusive analysis): `kubectl autoretrain
-- promote` or `abort` moves it on. Healthy when it Succeeded. Degraded when the candidate
-- did not ship: Rejected by the gate, RolledBack by the canary, or Failed.
--
-- Only the libraries Argo CD opens are used (base, table): no string or math library.
local hs = {}

local function why(default)
  local status = obj.status
  if status.message ~= nil and status.message ~= "" then
    return status.message
  end
  if status.reason ~= nil then
    return status.reason
  end
  return default
end

if obj.status == nil or obj.status.phase == nil or obj.status.phase == "Pending" then
  hs.status = "Progressing"
  hs.message = "Pending"
  return hs
end

local phase = obj.status.phase
if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = why("Promoted")
  return hs
end
if phase == "Rejected" then
  hs.status = "Degraded"
  hs.message = "Rejected by the offline gate: " .. why("GateRejected")
  return hs
end
if phase == "RolledBack" then
  hs.status = "Degraded"
  hs.message = "Rolled back: " .. why("the canary failed")
  return hs
end
if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "Failed: " .. why("unknown reason")
  return hs
end

local canary = obj.status.canary
if phase == "Canary" and canary ~= nil then
  local step = "Canary step " .. tostring((canary.stepIndex or 0) + 1) .. " at weight "
    .. tostring(canary.weight or 0) .. "%"
  if canary.paused == true then
    hs.status = "Suspended"
    hs.message = step .. ", paused: " .. why("waiting for promote")
    return hs
  end
  hs.status = "Progressing"
  hs.message = step
  return hs
end

hs.status = "Progressing"
hs.message = tostring(phase) .. ": " .. why("in progress")
return hs
