/**
 * The prose around commander's generated option lists: what each command does beyond its options,
 * the config folders it touches, and examples. Option lines themselves come from the command
 * definitions, so help and parsing cannot drift apart.
 */
import { PROTOCOL_VERSION } from '../../shared/protocol/constants.ts';
import { BRIDGE_VERSION } from '../version.ts';

export const MAIN_DESCRIPTION = `ipa-bridge ${BRIDGE_VERSION} (protocol ${PROTOCOL_VERSION}): IP-Adapter + ControlNet generation for Photoshop and Figma.`;

export const MAIN_HELP_AFTER = `
Run "npx ipa-bridge <command> --help" for a command's options.
Exit codes: 0 ok, 1 the work failed, 2 the command line was wrong.
Quick start: npx ipa-bridge start --models /path/to/ComfyUI/models
`;

export const START_HELP_AFTER = `
Plugins connect to ws://127.0.0.1:PORT/?token=TOKEN; the token is created on first start (see
"npx ipa-bridge token"). Stop it with Ctrl+C (running jobs are cancelled cleanly).

Prints one line on stdout when ready: "listening port=N hosts=... url=ws://..."; logs go to stderr:
what models were found and what each feature still lacks (with the command that fetches it), then one
line per job (id, size, steps, ms per step, total).

Example:
  npx ipa-bridge start --models ~/ComfyUI/models --provider cuda
`;

export const TOKEN_HELP_AFTER = `
Prints the pairing token that plugins and "generate" send as the "token" query parameter. It is
created on first use and stored with permissions 0600 in the user config folder
($IPA_BRIDGE_CONFIG_DIR, else $XDG_CONFIG_HOME/ipa-bridge or ~/.config/ipa-bridge; on macOS
~/Library/Application Support/ipa-bridge; on Windows %APPDATA%\\ipa-bridge). IPA_BRIDGE_TOKEN overrides it.
`;

export const GENERATE_HELP_AFTER = `
Generates through the running daemon (same protocol as the plugins, progress on stderr), or in this
process with --local. Every option and input file is checked before anything runs.

Output: the extension of --out picks the format: .png (A1111 "parameters" text chunk), .jpg/.jpeg
and .webp (the same text as EXIF UserComment). --batch N writes FILE-1.png, FILE-2.png, ...
--metadata also writes FILE.json (for out.png: out.json) with every parameter, the seed and the
sha256 and A1111 short hash of every model used.

Examples:
  npx ipa-bridge generate --prompt "a lighthouse at dusk" --style painting.png --style-scale 0.8 --out out.png
  npx ipa-bridge generate --prompt "dancer" --pose pose.json --style ref.png --seed 42 --out dancer.jpg
  npx ipa-bridge generate --prompt "red sofa" --init room.png --mask sofa-mask.png --strength 0.6 --crop --out room2.png
  # Regional image prompts: the painting acts where left.png is white, the photo where right.png is.
  npx ipa-bridge generate --prompt "a harbour at dusk" --width 768 --height 512 \
    --style painting.png --style-mask left.png --style photo.png --style-mask right.png --out harbour.png
`;

export const SELFTEST_HELP_AFTER = `
Checks an installation end to end: starts a private daemon on a free loopback port with a temporary
token, checks that a wrong token (401) and a web page's Origin (403) are refused, runs one small job
with an image prompt through a real WebSocket, and writes the result as a PNG. Without --models it
runs on tiny generated models (random weights; nothing is downloaded) and removes them, and the
graph cache they made, afterwards. Exits 0 when everything worked.

  npx ipa-bridge selftest --write-models ./tiny-models   # keep the tiny models for:
  npx ipa-bridge start --models ./tiny-models
`;

export const DOCTOR_HELP_AFTER = `
Probes every execution provider the way the daemon does at start-up (a tiny graph with the CPU
fallback off, then fp16), says which one --provider (default auto) picks and why, the GPU memory where
nvidia-smi tells, the model folders and what each feature lacks, with the command that fixes it.
Exit code 0 when a provider works and text-to-image has its models, 1 otherwise.
`;

export const INSTALL_CUDA_HELP_AFTER = `
NVIDIA GPUs on Linux x64 (onnxruntime-node has no CUDA build for Windows or macOS: use
--provider dml or webgpu there). A normal install skips onnxruntime-node's download of its CUDA
provider libraries (so installs work offline); this runs that download (Microsoft.ML.OnnxRuntime.Gpu.Linux
from nuget.org, ~300 MB) or, with --from, installs the same .nupkg downloaded elsewhere. Then it checks
which CUDA 12 / cuDNN 9 system libraries are missing and names the packages that provide them.
--check only reports.
`;

