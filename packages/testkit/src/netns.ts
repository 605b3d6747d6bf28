// Regions as Linux network namespaces on this machine (issue 14): each node of a topology is a
// network namespace with one veth link to a bridge the harness creates, on a private /24 that no
// other interface uses. Processes run inside a node with `ip netns exec` (which execs them, so
// their PID is theirs to kill); a node's link can be cut (set down: a partition that drops
// packets, as a lost inter-region link does, rather than refusing them) and healed. Everything it
// made is removed by destroy(). Needs root and iproute2; `available()` says whether both are there.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { spawnHerald, type HeraldChild } from './child.js';

const run = promisify(execFile);

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

export interface TopologyNode {
  /** The node's name in the topology (e.g. "cp", "west"). */
  name: string;
  /** Its network namespace. */
  netns: string;
  /** Its address on the topology's bridge. */
  address: string;
  /** The root side of its veth link: set down to cut the node off. */
  link: string;
}

export class Topology {
  readonly nodes: ReadonlyMap<string, TopologyNode>;
  /** The root namespace's address on the bridge: where the test, and its link proxies, listen. */
  readonly rootAddress: string;
  readonly #bridge: string;
  readonly #children = new Set<HeraldChild>();

  private constructor(bridge: string, rootAddress: string, nodes: Map<string, TopologyNode>) {
    this.#bridge = bridge;
    this.rootAddress = rootAddress;
    this.nodes = nodes;
  }

  /** Whether this process can build topologies (root, and the ip command). */
  static async available(): Promise<boolean> {
    if (process.getuid?.() !== 0) return false;
    try {
      await run('ip', ['netns', 'list']);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Builds the nodes on a fresh bridge with the root namespace at .254 (so the test itself can
   * reach every node). `id` (1-250) keeps concurrent topologies apart; a random one by default.
   */
  static async create(names: readonly string[], id = 1 + Math.floor(Math.random() * 250)): Promise<Topology> {
    if (names.length === 0 || names.length > 200) throw new RangeError('1 to 200 nodes');
    const bridge = `hzbr${id}`;
    const subnet = `10.231.${id}`;
    const nodes = new Map<string, TopologyNode>();
    const topology = new Topology(bridge, `${subnet}.254`, nodes);
    try {
      await ip('link', 'add', bridge, 'type', 'bridge');
      await ip('addr', 'add', `${subnet}.254/24`, 'dev', bridge);
      await ip('link', 'set', bridge, 'up');
      for (const [i, name] of names.entries()) {
        const node: TopologyNode = {
          name,
          netns: `hz${id}-${name}`,
          address: `${subnet}.${i + 1}`,
          link: `hz${id}v${i}`,
        };
        nodes.set(name, node);
        const peer = `hz${id}p${i}`;
        await ip('netns', 'add', node.netns);
        await ip('link', 'add', node.link, 'type', 'veth', 'peer', 'name', peer);
        await ip('link', 'set', peer, 'netns', node.netns);
        await ip('link', 'set', node.link, 'master', bridge);
        await ip('link', 'set', node.link, 'up');
        await ip('-n', node.netns, 'link', 'set', 'lo', 'up');
        await ip('-n', node.netns, 'addr', 'add', `${node.address}/24`, 'dev', peer);
        await ip('-n', node.netns, 'link', 'set', peer, 'up');
      }
      return topology;
    } catch (error) {
      await topology.destroy();
      throw error;
    }
  }

  node(name: string): TopologyNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node "${name}" in the topology`);
    return node;
  }

  /** Cuts the node off the bridge: its packets are dropped both ways until heal(). */
  async cut(name: string): Promise<void> {
    await ip('link', 'set', this.node(name).link, 'down');
  }

  async heal(name: string): Promise<void> {
    await ip('link', 'set', this.node(name).link, 'up');
  }

  /** Runs `herald args…` inside the node; stopped by destroy() if the test has not stopped it. */
  spawnHerald(name: string, args: string[], env: Record<string, string> = {}): HeraldChild {
    const child = spawnHerald(args, env, ['ip', 'netns', 'exec', this.node(name).netns]);
    this.#children.add(child);
    void child.exited.then(() => this.#children.delete(child));
    return child;
  }

  /** Stops every process still running (SIGKILL, by PID) and removes the namespaces, links and bridge. */
  async destroy(): Promise<void> {
    await Promise.all([...this.#children].map((c) => c.stop('SIGKILL')));
    for (const node of this.nodes.values()) {
      // Deleting the namespace deletes its end of the veth pair, and with it the root end.
      await ip('netns', 'del', node.netns).catch(() => undefined);
      await ip('link', 'del', node.link).catch(() => undefined);
    }
    await ip('link', 'del', this.#bridge).catch(() => undefined);
  }
}
