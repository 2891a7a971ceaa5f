/** Every engine error code reaches the client as a protocol code it can act on, not only as text. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_ERROR_CODES, type EngineErrorCode } from '../../engine/api.ts';
import { protocolCode } from '../../bridge/jobs.ts';

test('engine error codes map onto protocol codes (model-missing, no-face, … ; engine-error only for unknown ones)', () => {
  const expected: Record<EngineErrorCode, string> = {
    'invalid-field': 'invalid-field', 'invalid-control': 'invalid-field', 'invalid-keypoints': 'invalid-field',
    'model-missing': 'model-missing', 'model-invalid': 'model-invalid', 'model-wrong-type': 'model-mismatch', 'model-mismatch': 'model-mismatch',
    'no-face': 'no-face', 'face-index': 'no-face', 'out-of-memory': 'out-of-memory',
    'engine-unavailable': 'engine-unavailable', 'engine-crashed': 'engine-crashed',
  };
  assert.deepEqual([...ENGINE_ERROR_CODES].sort(), Object.keys(expected).sort());
  for (const c of ENGINE_ERROR_CODES) assert.equal(protocolCode(c), expected[c], c);
  // An engine process of another version may send a code this daemon does not know.
  assert.equal(protocolCode('something-new' as EngineErrorCode), 'engine-error');
});
