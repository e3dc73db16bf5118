// The published form of @sluice/sdk, in dist/bundle (see package.json's publishConfig): one ES module
// and one declaration file, with the contracts it uses from @sluice/core (zod schemas, types)
// compiled in, so that the package depends on zod alone and not on Sluice's server packages.
// Inside the monorepo the SDK is used from tsc's dist/ instead. Runs before `pnpm pack` / publish.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { generateDtsBundle } from 'dts-bundle-generator';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'bundle');
const manifest = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(join(root, 'package.json'), 'utf8')));
// Everything the published package lists as a dependency stays an import; the rest is compiled in.
const external = Object.keys(manifest.dependencies ?? {});

await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(root, 'src', 'index.ts')],
  outfile: join(out, 'index.js'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const [declarations] = generateDtsBundle(
  [
    {
      filePath: join(root, 'src', 'index.ts'),
      output: { noBanner: true, exportReferencedTypes: false },
      libraries: { inlinedLibraries: ['@sluice/core'] },
    },
  ],
  { preferredConfigPath: join(root, 'tsconfig.json') },
);
await writeFile(join(out, 'index.d.ts'), declarations);
console.error(`[sdk bundle] ${out}: index.js, index.d.ts (external: ${external.join(', ')})`);
