// Parses a packed orb with CircleCI's config parser and prints what it found
// as JSON: its commands, jobs and executors with their parameters, and each
// usage example as a config that imports the orb. Exits 1 on a parse error.
'use strict';
const fs = require('fs');
const YAML = require('yaml');
const p = require('@circleci/circleci-config-parser');

function fail(what, err) {
  process.stderr.write(`${what}: ${String(err && err.message || err).trim()}\n`);
  process.exit(1);
}

const orb = YAML.parse(fs.readFileSync(process.argv[2], 'utf8'));
const params = (kind) => Object.fromEntries(Object.entries(orb[kind] || {}).map(([n, c]) => [n, c.parameters || {}]));
let manifest;
try {
  manifest = p.parseOrbManifest({commands: params('commands'), jobs: params('jobs'), executors: params('executors')});
} catch (e) { fail('manifest', e); }

// expand renders a component as CircleCI does when it is used: every
// << parameters.NAME >> becomes the parameter's default, or a sample of its
// type when it has none, as text. (The parser validates expanded configuration: an
// enum such as a run step's "when" must hold one of its values.)
function sample(def) {
  if (def.default !== undefined) return def.default;
  switch (def.type) {
    case 'boolean': return true;
    case 'integer': return 1;
    case 'enum': return def.enum[0];
    case 'env_var_name': return 'LATCH_TOKEN';
    case 'executor': return 'default';
    case 'steps': return [];
    default: return 'sample';
  }
}
function expand(component) {
  const defs = component.parameters || {};
  const ref = /<<\s*parameters\.([A-Za-z0-9_]+)\s*>>/g;
  const walk = (v) => {
    if (typeof v === 'string') {
      const whole = v.match(/^<<\s*parameters\.([A-Za-z0-9_]+)\s*>>$/);
      if (whole) {
        if (!defs[whole[1]]) fail('expand', `undeclared parameter ${whole[1]}`);
        return String(sample(defs[whole[1]]));
      }
      return v.replace(ref, (_, n) => {
        if (!defs[n]) fail('expand', `undeclared parameter ${n}`);
        return String(sample(defs[n]));
      });
    }
    if (Array.isArray(v)) {
      // Conditional steps are decided when the config is compiled: a true
      // condition puts its steps in place, a false one drops them.
      return v.map(walk).flatMap((step) => {
        for (const [key, truthy] of [['when', true], ['unless', false]]) {
          if (step && typeof step === 'object' && step[key] && Object.keys(step).length === 1) {
            const c = String(step[key].condition);
            const holds = !['false', '', '0', 'undefined'].includes(c);
            return holds === truthy ? step[key].steps : [];
          }
        }
        return [step];
      });
    }
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  const {parameters, ...body} = component;
  return {...(parameters ? {parameters} : {}), ...walk(body)};
}

const out = {commands: {}, jobs: {}, executors: {}, examples: {}};
let commands = [];
let executors = [];
for (const [name, c] of Object.entries(orb.commands || {})) {
  try { commands.push(p.parseReusableCommand(name, expand(c))); } catch (e) { fail(`command ${name}`, e); }
}
for (const [name, ex] of Object.entries(orb.executors || {})) {
  try { executors.push(p.parseReusableExecutor(name, expand(ex))); } catch (e) { fail(`executor ${name}`, e); }
}
for (const [name, j] of Object.entries(orb.jobs || {})) {
  try { p.parseJob(name, expand(j), commands, executors); } catch (e) { fail(`job ${name}`, e); }
}
for (const kind of ['commands', 'jobs', 'executors']) {
  for (const [name, m] of Object.entries(manifest[kind] || {})) {
    out[kind][name] = (m.parameters || []).map((x) => x.name).sort();
  }
}
for (const [name, ex] of Object.entries(orb.examples || {})) {
  const imports = {};
  for (const [alias, ref] of Object.entries((ex.usage && ex.usage.orbs) || {})) {
    imports[String(ref)] = manifest;
    imports[alias] = manifest;
  }
  try {
    const cfg = p.parseConfig(ex.usage, imports);
    out.examples[name] = {jobs: cfg.jobs.map((j) => j.name), workflows: cfg.workflows.map((w) => w.name),
      orbs: (cfg.orbs || []).map((o) => o.alias)};
  } catch (e) { fail(`example ${name}`, e); }
}
process.stdout.write(JSON.stringify(out) + '\n');
