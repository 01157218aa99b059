-- Argo CD health check for hsmoperator.io/HsmRoleDefinition (hsm-operator, config/argocd/; argocd-cm.yaml holds the same text).
-- It reads what the operator writes on every kind, in kstatus's order: status.observedGeneration, then the conditions
-- Stalled (it needs a change from you), Reconciling (it is still working) and Ready (the summary).
local function condition(wanted)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == wanted then
      return c
    end
  end
  return nil
end

local function says(c)
  if c.reason ~= nil and c.reason ~= "" and c.message ~= nil then
    return c.reason .. ": " .. c.message
  end
  return c.message or c.reason or ""
end

local hs = {}
local ready = condition("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for hsm-operator to report on this HsmRoleDefinition"
  return hs
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "hsm-operator has not reported on generation " .. generation .. " of the spec yet"
  return hs
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = says(ready)
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = says(ready)
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
hs.status = "Progressing"
hs.message = says(ready)
return hs
