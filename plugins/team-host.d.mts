export function parseTeamHost(value: string | undefined): string;
export function teamHostDomains(hostPort: string): string[];
export function withTeamHostUxp<T extends object>(manifest: T, hostPort: string): T;
export function withTeamHostFigma<T extends object>(manifest: T, hostPort: string): T;
