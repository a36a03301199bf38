import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';

/**
 * Reads an image back from a plain-HTTP registry (the loopback one) and returns the regular files
 * of its final filesystem: the model-based test's oracle looks at what was really delivered, not
 * at what Tightloop says it delivered.
 */
const MANIFESTS = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

interface Manifest {
  mediaType?: string;
  layers?: { digest: string }[];
  manifests?: { digest: string; platform?: { os: string; architecture: string } }[];
}

/** `ref`: host:port/name@sha256:… or host:port/name:tag. */
export async function imageFiles(ref: string): Promise<Map<string, string>> {
  const { host, name, reference } = parseRef(ref);
  let manifest = await getJson(`http://${host}/v2/${name}/manifests/${reference}`);
  if (manifest.manifests) {
    const pick = manifest.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64') ?? manifest.manifests[0]!;
    manifest = await getJson(`http://${host}/v2/${name}/manifests/${pick.digest}`);
  }
  const files = new Map<string, string>();
  for (const layer of manifest.layers ?? []) {
    const response = await fetch(`http://${host}/v2/${name}/blobs/${layer.digest}`);
    if (!response.ok) throw new Error(`blob ${layer.digest} of ${ref}: HTTP ${response.status}`);
    let bytes = Buffer.from(await response.arrayBuffer());
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    await applyLayer(bytes, files);
  }
  return files;
}

function parseRef(ref: string): { host: string; name: string; reference: string } {
  const slash = ref.indexOf('/');
  const host = ref.slice(0, slash);
  const rest = ref.slice(slash + 1);
  const at = rest.indexOf('@');
  if (at >= 0) return { host, name: rest.slice(0, at), reference: rest.slice(at + 1) };
  const colon = rest.lastIndexOf(':');
  return { host, name: rest.slice(0, colon), reference: rest.slice(colon + 1) };
}

async function getJson(url: string): Promise<Manifest> {
  const response = await fetch(url, { headers: { accept: MANIFESTS } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as Manifest;
}

function applyLayer(bytes: Buffer, files: Map<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        const name = header.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
        const base = name.split('/').at(-1)!;
        if (base.startsWith('.wh.')) {
          const gone = name.slice(0, name.length - base.length) + base.slice(4);
          for (const key of [...files.keys()]) if (key === gone || key.startsWith(gone + '/')) files.delete(key);
        } else if (header.type === 'file') files.set(name, Buffer.concat(chunks).toString('utf8'));
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    extract.end(bytes);
  });
}
