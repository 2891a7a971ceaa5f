/** `--help` texts: what each command does, every option, and an example. */
import { DEFAULT_PORT, PROTOCOL_VERSION } from '../../shared/protocol/constants.ts';
import { SAMPLERS } from '../../shared/protocol/messages.ts';
import { BRIDGE_VERSION } from '../version.ts';

export const MAIN_HELP = `ipa-bridge ${BRIDGE_VERSION} (protocol ${PROTOCOL_VERSION}): IP-Adapter + ControlNet generation for Photoshop and Figma.

Usage: npx ipa-bridge <command> [options]

Commands:
  start      run the daemon the plugins connect to (ws://127.0.0.1:${DEFAULT_PORT})
  token      print the pairing token to paste into a plugin
  generate   generate an image from the command line (through the daemon, or --local)
  selftest   start a private daemon, run one job through a real WebSocket, write a PNG
  models     list and fetch models (see: npx ipa-bridge models --help)

Run "npx ipa-bridge <command> --help" for a command's options.
Quick start: npx ipa-bridge start --models /path/to/ComfyUI/models
`;

export const START_HELP = `Usage: npx ipa-bridge start [options]

Runs the bridge daemon. Plugins connect to ws://127.0.0.1:PORT/?token=TOKEN; the token is created on
first start (see "npx ipa-bridge token"). Stop it with Ctrl+C (running jobs are cancelled cleanly).

Options:
  --port N            port to listen on (default ${DEFAULT_PORT}, the port the plugin manifests allow;
                      0 picks a free one)
  --models DIR        models folder (a ComfyUI or A1111 models folder works as is)
  --cpu | --cuda      execution provider (default cpu; --cuda needs the CUDA build of onnxruntime-node)
  --host H            listen on another interface instead of loopback; needs --allow-remote
  --allow-remote      confirm --host: anyone who can reach H and knows the token can use your GPU
  --verbose, -v       log connections, handshakes and stack traces
Limits (defaults in brackets):
  --max-pixels N      largest width*height generated [1048576]
  --max-input-pixels N  largest decoded input image [16777216]
  --max-payload BYTES largest WebSocket message; bigger ones close the connection with 1009 [4096*4096*4 + 4096]
  --max-connections N concurrent connections [16]
  --job-rate N        sustained jobs per second per connection [2] (--job-burst N at once [10])
  --ping-interval MS  ping clients; drop those that miss a pong [30000]
  --grace MS          cancel a disconnected client's queued jobs after this [60000]
  --frame-timeout MS  how long a job's image frames may take to arrive [60000]
  --result-ttl MS     keep finished results for reconnecting clients [900000]
  --result-cache MB   memory for kept results [1024]; --blob-cache MB for input images by hash [512]

Prints one line on stdout when ready: "listening port=N hosts=... url=ws://..."; logs go to stderr,
one line per job (id, size, steps, ms per step, total).

Example:
  npx ipa-bridge start --models ~/ComfyUI/models --cuda
`;

export const TOKEN_HELP = `Usage: npx ipa-bridge token [--reset] [--path] [--url [--port N]]

Prints the pairing token that plugins and "generate" send as the "token" query parameter. It is
created on first use and stored with permissions 0600 in the user config folder
($IPA_BRIDGE_CONFIG_DIR, else $XDG_CONFIG_HOME/ipa-bridge or ~/.config/ipa-bridge; on macOS
~/Library/Application Support/ipa-bridge; on Windows %APPDATA%\\ipa-bridge). IPA_BRIDGE_TOKEN overrides it.

Options:
  --reset   make a new token (plugins must be re-paired; restart the daemon)
  --path    print the token file's path instead
  --url     print the full WebSocket URL with the token (for --port N, default ${DEFAULT_PORT})
`;

export const GENERATE_HELP = `Usage: npx ipa-bridge generate --prompt TEXT --out FILE.png [options]

Generates through the running daemon (same protocol as the plugins, progress on stderr), or in this
process with --local.

Prompt and sampling:
  --prompt TEXT           what to draw (required)
  --negative TEXT         what to avoid
  --seed N                seed (default random; printed, and stored in the .json with --metadata)
  --steps N               denoising steps 1-150 [20]
  --sampler NAME          ${SAMPLERS.join(', ')} [euler-ancestral]
  --guidance N            classifier-free guidance scale [7]
  --width N --height N    size, multiples of 8 [512x512, or derived from --init]
  --batch N               images per job [1]; files get -1, -2, ... suffixes
  --checkpoint NAME       checkpoint from the models folder
Image prompts (IP-Adapter), repeatable:
  --style FILE            style/reference image
  --style-scale N         0 = off, 0.3-0.5 weak, 0.7-1 strong, >1 overrides the text [0.7]
  --style-preset P        reference, style or composition [reference]
  --adapter KIND          base, plus, faceid, faceid-plus, faceid-plusv2, portrait [base]
Structure (ControlNet):
  --pose FILE             OpenPose skeleton image (.png) or keypoint JSON (.json)
  --canny FILE            image to take edges from;  --depth FILE  depth map (or photo with --preprocess)
  --control-scale N       ControlNet strength 0-2 [1]
  --preprocess            detect pose / edges / depth from a photo instead of using FILE as the map
Image to image / inpainting:
  --init FILE             start from this image (the result has its size)
  --mask FILE             repaint only where the mask is white (alpha counts as black)
  --strength N            how much to change the init, 0-1 [0.75]
  --feather N             soften the mask edge by N pixels [0]
  --crop                  generate only the mask's area (+ --padding N px [32]) and paste it back
Output and connection:
  --out FILE              where to write the PNG (required)
  --metadata              also write FILE.json with every parameter, seed and model hash
  --local                 run the engine in this process instead of the daemon
  --models DIR, --cpu, --cuda   engine settings for --local
  --port N --host H       daemon address [${DEFAULT_PORT}, 127.0.0.1]
  --token T               pairing token [IPA_BRIDGE_TOKEN or the stored one]

Examples:
  npx ipa-bridge generate --prompt "a lighthouse at dusk" --style painting.png --style-scale 0.8 --out out.png
  npx ipa-bridge generate --prompt "dancer" --pose pose.json --style ref.png --seed 42 --out dancer.png
  npx ipa-bridge generate --prompt "red sofa" --init room.png --mask sofa-mask.png --strength 0.6 --crop --out room2.png
`;

export const SELFTEST_HELP = `Usage: npx ipa-bridge selftest [--out FILE.png] [--models DIR] [--cpu|--cuda] [--verbose]

Checks an installation end to end: starts a private daemon on a free loopback port with a temporary
token, checks that a wrong token (401) and a web page's Origin (403) are refused, runs one small job
with an image prompt through a real WebSocket, and writes the result as a PNG
[default: ipa-bridge-selftest.png in the current folder]. Exits 0 when everything worked.
`;
