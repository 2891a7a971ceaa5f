/**
 * A Photoshop panel session for the controller tests: the real UXP host over the in-memory Photoshop
 * (fake-photoshop.ts), the shared connection over real `ws` sockets to a real test daemon, and the
 * panel's controller on top. The tests add what they watch (phases, the wire, live mode) around it.
 */
import WebSocket from 'ws';
import { PanelController } from '../../plugins/photoshop/src/controller.ts';
import { createUxpHost, type PsHost } from '../../plugins/photoshop/src/host.ts';
import type { SocketLike } from '../../shared/protocol/client.ts';
import type { BridgeConnection } from '../../shared/plugin/connection.ts';
import { connectTo, testConnection } from '../helpers/connection.ts';
import type { TestDaemon } from '../helpers/daemon.ts';
import { FakeWorld, type FakeDocument } from './fake-photoshop.ts';
import { addScene, type SceneOptions } from './scene.ts';

/** UXP's localStorage, in memory; kept by a test to reopen a session on the same settings. */
export class MemoryStorage {
  private readonly m = new Map<string, string>();
  getItem(k: string): string | null {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.m.set(k, v);
  }
  removeItem(k: string): void {
    this.m.delete(k);
  }
}

export interface PanelSession {
  world: FakeWorld;
  doc: FakeDocument;
  host: PsHost;
  ctl: PanelController;
  conn: BridgeConnection;
}

export interface PanelSessionOptions {
  daemon: TestDaemon;
  /** The hello's client name. */
  client: string;
  scene?: SceneOptions;
  /** Reopen on this world's active document instead of a new scene. */
  world?: FakeWorld;
  storage?: MemoryStorage;
  /** Connect here instead of the daemon's port. */
  port?: number;
  /** Opens the host's sockets; by default a plain `ws` socket. */
  openSocket?: (url: string) => SocketLike;
  /** Runs before the connection is made, for what must see the handshake (live mode, phase watchers). */
  beforeConnect?: (session: PanelSession) => void;
}

const plainSocket = (url: string): SocketLike => new WebSocket(url, { perMessageDeflate: false }) as unknown as SocketLike;

/** Opens a panel session connected to the daemon. */
export async function openPanelSession(o: PanelSessionOptions): Promise<PanelSession> {
  const world = o.world ?? new FakeWorld();
  const doc = o.world ? (world.active as FakeDocument) : addScene(world, o.scene);
  const base = createUxpHost(world.photoshop(), world.uxp(), { localStorage: (o.storage ?? new MemoryStorage()) as unknown as Storage });
  const host: PsHost = {
    ...base,
    openSocket: o.openSocket ?? plainSocket,
    probe: async () => false,
    imageUrl: () => 'blob:test',
    releaseImageUrl: () => undefined,
  };
  const conn = testConnection({ client: o.client, openSocket: host.openSocket, probe: false, backoff: { baseMs: 100, capMs: 400 } });
  const ctl = new PanelController({ host, connection: conn });
  const session = { world, doc, host, ctl, conn };
  o.beforeConnect?.(session);
  await connectTo(conn, o.daemon, o.port);
  return session;
}
