/** `ipa-bridge doctor` and `ipa-bridge install-cuda`: the command lines; the work is in bridge/doctor.ts and bridge/install-cuda.ts. */
import { Command } from 'commander';
import { runDoctor } from '../doctor.ts';
import { runInstallCuda } from '../install-cuda.ts';
import { addProviderOptions, providerFrom, type ProviderFlags } from './args.ts';
import { DOCTOR_HELP_AFTER, INSTALL_CUDA_HELP_AFTER } from './help.ts';

interface DoctorFlags extends ProviderFlags {
  readonly models?: string;
  readonly json?: boolean;
}

export function doctorCommand(ran: (code: number) => void): Command {
  const cmd = new Command('doctor')
    .description('check which execution providers work here and what the model folders lack')
    .option('--models <dir>', 'models folder to check (default: the configured ones)');
  addProviderOptions(cmd, 'provider to check');
  return cmd
    .option('--json', 'machine-readable report')
    .addHelpText('after', DOCTOR_HELP_AFTER)
    .action(async (o: DoctorFlags) => ran(await runDoctor({ modelsDir: o.models, provider: providerFrom(o), json: o.json === true }, process.stdout)));
}

export function installCudaCommand(ran: (code: number) => void): Command {
  return new Command('install-cuda')
    .description("fetch onnxruntime-node's CUDA provider libraries (NVIDIA GPUs, Linux x64)")
    .option('--check', 'only report what is installed and which system libraries are missing')
    .option('--from <file.nupkg>', 'install from a downloaded Microsoft.ML.OnnxRuntime.Gpu.Linux package (offline)')
    .addHelpText('after', INSTALL_CUDA_HELP_AFTER)
    .action(async (o: { check?: boolean; from?: string }) => ran(await runInstallCuda({ check: o.check === true, ...(o.from ? { from: o.from } : {}) }, process.stdout)));
}
