/**
 * The UI iframe's line to the sandbox: `parent.postMessage({ pluginMessage }, '*')` out, `message` events
 * with `data.pluginMessage` in. Requests that expect one answer (export, insert) are matched by id.
 */
import type { SandboxMessage, UiMessage } from './messages.ts';

type Answer = Extract<SandboxMessage, { type: 'exported' | 'inserted' | 'failed' }>;

export class SandboxError extends Error {}

export class SandboxLink {
  private readonly waiting = new Map<string, { resolve: (m: Answer) => void }>();
  private readonly listeners = new Set<(m: SandboxMessage) => void>();
  private seq = 0;

  constructor(private readonly win: Window) {
    win.addEventListener('message', (ev: MessageEvent) => {
      const data: unknown = ev.data;
      const m = typeof data === 'object' && data !== null ? (data as { pluginMessage?: unknown }).pluginMessage : undefined;
      if (typeof m !== 'object' || m === null || typeof (m as { type?: unknown }).type !== 'string') return;
      this.receive(m as SandboxMessage);
    });
  }

  send(m: UiMessage): void {
    // `parent` is read at call time: tests replace it before the script runs.
    this.win.parent.postMessage({ pluginMessage: m }, '*');
  }

  on(fn: (m: SandboxMessage) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  newRequestId(): string {
    return `r${++this.seq}`;
  }

  exportFor(m: Extract<UiMessage, { type: 'export' }>): Promise<Extract<SandboxMessage, { type: 'exported' }>> {
    return this.request(m).then((a) => {
      if (a.type !== 'exported') throw new SandboxError(`unexpected answer ${a.type}`);
      return a;
    });
  }

  insert(m: Extract<UiMessage, { type: 'insert' }>): Promise<string[]> {
    return this.request(m).then((a) => {
      if (a.type !== 'inserted') throw new SandboxError(`unexpected answer ${a.type}`);
      return a.nodeIds;
    });
  }

  private request(m: Extract<UiMessage, { requestId: string }>): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      this.waiting.set(m.requestId, {
        resolve: (a) => (a.type === 'failed' ? reject(new SandboxError(a.message)) : resolve(a)),
      });
      this.send(m);
    });
  }

  private receive(m: SandboxMessage): void {
    if (m.type === 'exported' || m.type === 'inserted' || m.type === 'failed') {
      const w = this.waiting.get(m.requestId);
      this.waiting.delete(m.requestId);
      w?.resolve(m);
      return;
    }
    for (const fn of [...this.listeners]) fn(m);
  }
}
