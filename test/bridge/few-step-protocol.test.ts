/** The protocol's few-step additions: the new sampler names, eta and draftDecode, validated with named errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SAMPLERS } from '../../shared/protocol/messages.ts';
import { validateJob } from '../../shared/protocol/validate.ts';
import { SAMPLERS as ENGINE_SAMPLERS } from '../../engine/api.ts';

test('few-step samplers are protocol samplers, the same list as the engine\'s', () => {
  for (const s of ['tcd', 'euler-trailing', 'euler-ancestral-trailing', 'ddim-trailing', 'sgm-uniform']) {
    const r = validateJob({ type: 'job', jobId: 'a', prompt: 'cat', sampler: s });
    assert.ok(r.ok && r.value.params.sampler === s, s);
  }
  assert.deepEqual([...SAMPLERS], [...ENGINE_SAMPLERS]);
});

test('eta (0-1) and draftDecode (bool) are optional job fields; bad values name the field', () => {
  const r = validateJob({ type: 'job', jobId: 'a', prompt: 'cat', sampler: 'tcd', eta: 0.5, draftDecode: true });
  assert.ok(r.ok);
  if (r.ok) {
    assert.equal(r.value.params.eta, 0.5);
    assert.equal(r.value.params.draftDecode, true);
  }
  const plain = validateJob({ type: 'job', jobId: 'a', prompt: 'cat' });
  assert.ok(plain.ok && plain.value.params.eta === undefined && plain.value.params.draftDecode === undefined);
  for (const [field, value] of [['eta', 1.5], ['eta', 'x'], ['draftDecode', 'yes']] as const) {
    const bad = validateJob({ type: 'job', jobId: 'a', prompt: 'cat', [field]: value });
    assert.ok(!bad.ok && JSON.stringify(bad.error).includes(field), `${field}=${value}`);
  }
});
