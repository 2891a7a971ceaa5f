/** `ipa-bridge install-cuda`: fetches onnxruntime-node's CUDA provider libraries after a normal install. */

export interface InstallCudaOptions {
  /** Only report what is installed and which system libraries are missing. */
  readonly check: boolean;
}

export async function runInstallCuda(_opts: InstallCudaOptions, _out: NodeJS.WritableStream = process.stdout): Promise<number> {
  throw new Error('install-cuda: being written');
}
