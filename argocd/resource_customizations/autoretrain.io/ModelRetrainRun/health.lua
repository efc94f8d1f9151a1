-- Argo CD health of a ModelRetrainRun (autoretrain.io/v1alpha1), one retraining attempt.
--
-- Progressing while it trains, gates, canaries or promotes; Suspended while its canary
-- holds for a person (an indefinite pause, or Inconclusive analysis): `kubectl autoretrain
-- promote` or `abort` moves it on. Healthy when it Succeeded, or is Verifying after its
-- promotion. Degraded when the candidate did not ship or did not last: Rejected by the
-- gate, RolledBack by the canary or by late labels, or Failed.
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

-- Final phases: health, the message's prefix, and the reason when the run gives none.
local final = {
  Succeeded = {"Healthy", "", "Promoted"},
  Rejected = {"Degraded", "Rejected by the offline gate: ", "GateRejected"},
  RolledBack = {"Degraded", "Rolled back: ", "the canary failed"},
  Failed = {"Degraded", "Failed: ", "unknown reason"},
}

local phase = obj.status.phase
local ended = final[phase]
if ended ~= nil then
  hs.status = ended[1]
  hs.message = ended[2] .. why(ended[3])
  return hs
end

-- Promoted and serving, while the labels of its traffic come in: a later backtest may still
-- roll it back (then RolledBack: LateLabelRegression), but nothing waits on it meanwhile.
if phase == "Verifying" then
  hs.status = "Healthy"
  hs.message = "Verifying: " .. why("waiting for the labels of its traffic")
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
