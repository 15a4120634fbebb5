/**
 * Commissioning: walk the address space from a root (default Objects) breadth-first, level by
 * level in batched Browse calls, and describe every variable found (data type name, writable from
 * AccessLevel, engineering unit from its EngineeringUnits property). Namespace 0 (the server's
 * own diagnostics) is skipped unless asked for, and properties (HasProperty: EURange,
 * EngineeringUnits ...) are metadata, not points.
 */
import {
  AccessLevelFlag,
  AttributeIds,
  BrowseDirection,
  makeBrowsePath,
  NodeClass,
  NodeClassMask,
  ReferenceTypeIds,
  resolveNodeId,
  type BrowseDescriptionOptions,
  type BrowseResult,
  type ClientSession,
  type DataValue,
  type NodeId,
  type ReferenceDescription,
} from 'node-opcua-client';
import { SwarmgateError } from '../../../shared/kit/errors.js';
import type { BrowseOptions, DiscoveredPoint } from '../driver.js';

export interface OpcuaBrowseLimits {
  readonly maxDepth: number;
  readonly rootNodeId: string;
  readonly includeNamespaceZero: boolean;
  readonly maxNodes: number;
}

export function browseLimits(options: BrowseOptions): OpcuaBrowseLimits {
  const num = (v: unknown, d: number): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : d);
  return {
    maxDepth: num(options.maxDepth, 6),
    rootNodeId: typeof options.rootNodeId === 'string' ? options.rootNodeId : 'ObjectsFolder',
    includeNamespaceZero: options.includeNamespaceZero === true,
    maxNodes: num(options.maxNodes, 5000),
  };
}

interface Found {
  readonly nodeId: NodeId;
  readonly path: readonly string[];
}

const BATCH = 100;
const HAS_PROPERTY = resolveNodeId(ReferenceTypeIds.HasProperty).toString();

async function browseBatch(session: ClientSession, nodes: readonly NodeId[]): Promise<ReferenceDescription[][]> {
  const descriptions: BrowseDescriptionOptions[] = nodes.map((nodeId) => ({
    nodeId,
    referenceTypeId: resolveNodeId(ReferenceTypeIds.HierarchicalReferences),
    includeSubtypes: true,
    browseDirection: BrowseDirection.Forward,
    nodeClassMask: NodeClassMask.Object | NodeClassMask.Variable,
    resultMask: 0x3f,
  }));
  const results: BrowseResult[] = await session.browse(descriptions);
  const out: ReferenceDescription[][] = [];
  for (const result of results) {
    const refs = [...(result.references ?? [])];
    let continuation = result.continuationPoint;
    while (continuation && continuation.length > 0) {
      const next: BrowseResult = await session.browseNext(continuation, false);
      refs.push(...(next.references ?? []));
      continuation = next.continuationPoint;
    }
    out.push(refs);
  }
  return out;
}

export async function browseVariables(session: ClientSession, limits: OpcuaBrowseLimits): Promise<DiscoveredPoint[]> {
  let root: NodeId;
  try {
    root = resolveNodeId(limits.rootNodeId);
  } catch (err) {
    throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `browse root "${limits.rootNodeId}" is not a node id`, { cause: err });
  }
  const visited = new Set<string>([root.toString()]);
  const variables: Found[] = [];
  let level: Found[] = [{ nodeId: root, path: [] }];
  for (let depth = 0; depth < limits.maxDepth && level.length > 0; depth++) {
    const next: Found[] = [];
    for (let i = 0; i < level.length; i += BATCH) {
      const chunk = level.slice(i, i + BATCH);
      const refsPerNode = await browseBatch(session, chunk.map((f) => f.nodeId));
      chunk.forEach((parent, j) => {
        for (const ref of refsPerNode[j] ?? []) {
          if (ref.referenceTypeId.toString() === HAS_PROPERTY) continue;
          const nodeId = ref.nodeId as unknown as NodeId;
          if (!limits.includeNamespaceZero && nodeId.namespace === 0) continue;
          const key = nodeId.toString();
          if (visited.has(key) || visited.size >= limits.maxNodes) continue;
          visited.add(key);
          const found = { nodeId, path: [...parent.path, ref.browseName.name ?? key] };
          if (ref.nodeClass === NodeClass.Variable) variables.push(found);
          next.push(found);
        }
      });
    }
    level = next;
  }
  return describe(session, variables);
}

async function describe(session: ClientSession, variables: readonly Found[]): Promise<DiscoveredPoint[]> {
  const attributes = [AttributeIds.DataType, AttributeIds.AccessLevel, AttributeIds.Description] as const;
  const values: DataValue[] = [];
  for (let i = 0; i < variables.length; i += BATCH) {
    const chunk = variables.slice(i, i + BATCH);
    values.push(...(await session.read(chunk.flatMap((v) => attributes.map((attributeId) => ({ nodeId: v.nodeId, attributeId }))))));
  }
  const typeIds = new Map<string, NodeId>();
  variables.forEach((_, i) => {
    const typeId = values[i * 3]?.value.value as NodeId | null | undefined;
    if (typeId) typeIds.set(typeId.toString(), typeId);
  });
  const typeNames = new Map<string, string>();
  const typeList = [...typeIds.values()];
  for (let i = 0; i < typeList.length; i += BATCH) {
    const chunk = typeList.slice(i, i + BATCH);
    const names = await session.read(chunk.map((nodeId) => ({ nodeId, attributeId: AttributeIds.BrowseName })));
    chunk.forEach((id, j) => {
      const name = (names[j]?.value.value as { name?: string } | null)?.name;
      if (name) typeNames.set(id.toString(), name);
    });
  }
  const units = await engineeringUnits(session, variables);
  const used = new Set<string>();
  return variables.map((v, i) => {
    const typeId = values[i * 3]?.value.value as NodeId | null | undefined;
    const access = values[i * 3 + 1]?.value.value as number | null | undefined;
    const description = (values[i * 3 + 2]?.value.value as { text?: string | null } | null | undefined)?.text ?? undefined;
    const unit = units[i];
    return {
      name: uniqueName(pointName(v.path), used),
      address: { nodeId: v.nodeId.toString() },
      ...(typeId ? { dataType: typeNames.get(typeId.toString()) ?? typeId.toString() } : {}),
      writable: typeof access === 'number' && (access & AccessLevelFlag.CurrentWrite) !== 0,
      ...(description ? { description } : {}),
      ...(unit ? { unit } : {}),
    };
  });
}

/** Profile spellings of the UNECE symbols servers declare (others are kept as declared). */
const UNIT_SPELLING: Readonly<Record<string, string>> = { '°C': 'degC', '℃': 'degC', '°F': 'degF', '℉': 'degF', '°K': 'K' };

/**
 * The unit each variable declares in its EngineeringUnits property (AnalogItemType and others:
 * an EUInformation whose displayName is the UNECE symbol), in batched TranslateBrowsePath and
 * Read calls; undefined where a variable has none.
 */
async function engineeringUnits(session: ClientSession, variables: readonly Found[]): Promise<(string | undefined)[]> {
  const units: (string | undefined)[] = variables.map(() => undefined);
  for (let i = 0; i < variables.length; i += BATCH) {
    const chunk = variables.slice(i, i + BATCH);
    const paths = await session.translateBrowsePath(chunk.map((v) => makeBrowsePath(v.nodeId, '.EngineeringUnits')));
    const found = paths.flatMap((p, j) => {
      const target = p.statusCode.isGood() ? p.targets?.[0]?.targetId : undefined;
      return target ? [{ index: i + j, nodeId: target as unknown as NodeId }] : [];
    });
    if (found.length === 0) continue;
    const read = await session.read(found.map((f) => ({ nodeId: f.nodeId, attributeId: AttributeIds.Value })));
    found.forEach((f, j) => {
      const symbol = (read[j]?.value.value as { displayName?: { text?: string | null } } | null | undefined)?.displayName?.text?.trim();
      if (symbol) units[f.index] = UNIT_SPELLING[symbol] ?? symbol;
    });
  }
  return units;
}

/** Browse path -> profile point name (^[a-z][a-z0-9_]*$): "ColdRoom/SetPoint" -> "cold_room_set_point". */
export function pointName(path: readonly string[]): string {
  const snake = path
    .join('_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (snake === '') return 'point';
  return /^[a-z]/.test(snake) ? snake : `p_${snake}`;
}

function uniqueName(name: string, used: Set<string>): string {
  let candidate = name;
  for (let n = 2; used.has(candidate); n++) candidate = `${name}_${n}`;
  used.add(candidate);
  return candidate;
}
