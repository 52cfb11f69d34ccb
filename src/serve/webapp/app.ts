/**
 * The web app of `dinov2 serve` (plain TypeScript, bundled by esbuild): explore one image (PCA map,
 * attention per head, depth and segmentation when the server has those heads), and collections (create
 * from uploads with progress, search by image, duplicates, curation clusters). Everything talks to the
 * server's own API; errors are shown as the server words them. Private mode computes the search image's
 * embedding in the page (dinov2-ts/web, served at /web/) and sends only the vector.
 */

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

interface ApiError {
  error?: { message?: string };
}

let heads: string[] = [];

function apiKey(): string {
  return ($('api-key') as HTMLInputElement).value.trim();
}

function headers(json = false): Record<string, string> {
  const h: Record<string, string> = {};
  const key = apiKey();
  if (key) h['authorization'] = `Bearer ${key}`;
  if (json) h['content-type'] = 'application/json';
  return h;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: headers(body !== undefined && !(body instanceof FormData)) };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) init.body = JSON.stringify(body);
  const r = await fetch(path, init);
  const text = await r.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!r.ok) throw new Error((data as ApiError)?.error?.message ?? `HTTP ${r.status}`);
  return data as T;
}

function showError(message: string | null): void {
  const el = $('error');
  el.textContent = message ?? '';
  el.hidden = message === null;
}

function model(): string {
  return ($('model') as HTMLSelectElement).value;
}

/** Refuses what is not an image before uploading it. */
function checkImageFile(f: File): void {
  if (!f.type.startsWith('image/')) throw new Error(`${f.name} is not an image (${f.type || 'unknown type'}); choose a JPEG, PNG, WebP, GIF or TIFF file`);
}

function form(fields: Record<string, string>, files: [string, File][]): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  for (const [k, f] of files) fd.append(k, f, f.name);
  return fd;
}

function loadImage(img: HTMLImageElement, src: string): Promise<void> {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error('the picture could not be shown'));
    img.src = src;
  });
}

// ---------------------------------------------------------------- tabs

function setupTabs(): void {
  const tabs = [$('tab-explore'), $('tab-collections')];
  const select = (tab: HTMLElement) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute('aria-controls')!).hidden = !on;
    }
    tab.focus();
    if (tab.id === 'tab-collections') void refreshCollections();
  };
  tabs.forEach((t, i) => {
    t.addEventListener('click', () => select(t));
    t.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        e.preventDefault();
        select(tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length]!);
      }
    });
  });
}

function setupDrop(dropId: string, inputId: string, onFiles: (files: File[]) => void): void {
  const drop = $(dropId);
  const input = $(inputId) as HTMLInputElement;
  input.addEventListener('change', () => {
    if (input.files && input.files.length > 0) onFiles([...input.files]);
  });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const files = [...(e.dataTransfer?.files ?? [])];
    if (files.length > 0) onFiles(files);
  });
}

// ---------------------------------------------------------------- explore

/** A per-head attention map over the image: the grid upsampled to the image size, as a heat overlay. */
function attentionCanvas(img: HTMLImageElement, map: number[], grid: [number, number]): HTMLCanvasElement {
  const [h, w] = grid;
  const W = img.naturalWidth;
  const H = img.naturalHeight;
  const c = document.createElement('canvas');
  c.width = W;
  c.height = H;
  const ctx = c.getContext('2d')!;
  ctx.drawImage(img, 0, 0);
  const small = document.createElement('canvas');
  small.width = w;
  small.height = h;
  const sctx = small.getContext('2d')!;
  const data = sctx.createImageData(w, h);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of map) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  map.forEach((v, i) => {
    const t = hi > lo ? (v - lo) / (hi - lo) : 0;
    data.data[i * 4] = 255;
    data.data[i * 4 + 1] = Math.round(200 * t);
    data.data[i * 4 + 2] = 0;
    data.data[i * 4 + 3] = Math.round(40 + 200 * t);
  });
  sctx.putImageData(data, 0, 0);
  ctx.fillStyle = 'rgba(0,0,0,0.55)';
  ctx.fillRect(0, 0, W, H);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, W, H);
  return c;
}

async function explore(files: File[]): Promise<void> {
  const file = files[0]!;
  const status = $('explore-status');
  showError(null);
  try {
    checkImageFile(file);
  } catch (e) {
    showError((e as Error).message);
    return;
  }
  $('explore-results').hidden = true;
  status.textContent = `Computing features of ${file.name}…`;
  try {
    const fields = { model: model(), dense: '224' };
    const [pca, att] = await Promise.all([
      api<{ image: string; width: number; height: number }>('POST', '/v1/pca', form(fields, [['input', file]])),
      api<{ maps: number[][]; grid: [number, number]; heads: number }>('POST', '/v1/attention', form(fields, [['input', file]])),
    ]);
    const original = $('original-img') as HTMLImageElement;
    const url = URL.createObjectURL(file);
    await loadImage(original, url);
    original.width = pca.width;
    original.height = pca.height;
    const pcaImg = $('pca-img') as HTMLImageElement;
    await loadImage(pcaImg, pca.image);
    pcaImg.width = pca.width;
    pcaImg.height = pca.height;
    const grid = $('attention');
    grid.textContent = '';
    att.maps.forEach((m, k) => {
      const fig = document.createElement('figure');
      const c = attentionCanvas(original, m, att.grid);
      c.setAttribute('role', 'img');
      c.setAttribute('aria-label', `Attention of head ${k + 1} over the image`);
      const cap = document.createElement('figcaption');
      cap.textContent = `Head ${k + 1}`;
      fig.append(c, cap);
      grid.append(fig);
    });
    $('explore-results').hidden = false;
    status.textContent = `${file.name}: ${pca.width}×${pca.height}, ${att.heads} heads.`;
    await Promise.all([
      heads.includes('depth') ? showHead('depth', file, fields) : Promise.resolve(),
      heads.includes('segment') ? showHead('segment', file, fields) : Promise.resolve(),
    ]);
  } catch (e) {
    status.textContent = '';
    const msg = (e as Error).message;
    showError(msg.includes(file.name) ? msg : `${file.name}: ${msg}`);
  }
}

async function showHead(kind: 'depth' | 'segment', file: File, fields: Record<string, string>): Promise<void> {
  const r = await api<{ image: string; classes?: { name: string; fraction: number }[] }>('POST', `/v1/${kind}`, form({ model: fields['model']! }, [['input', file]]));
  await loadImage($(`${kind}-img`) as HTMLImageElement, r.image);
  $(`${kind}-fig`).hidden = false;
  if (r.classes) $('segment-caption').textContent = 'Segmentation: ' + r.classes.slice(0, 5).map((c) => `${c.name} ${(100 * c.fraction).toFixed(0)}%`).join(', ');
}

// ---------------------------------------------------------------- collections

interface CollectionInfo {
  name: string;
  model: string;
  size: number;
  count: number;
}

function current(): string {
  return ($('collection-select') as HTMLSelectElement).value;
}

async function refreshCollections(select?: string): Promise<void> {
  try {
    const { data } = await api<{ data: CollectionInfo[] }>('GET', '/v1/collections');
    const sel = $('collection-select') as HTMLSelectElement;
    const keep = select ?? sel.value;
    sel.textContent = '';
    for (const c of data) {
      const o = document.createElement('option');
      o.value = c.name;
      o.textContent = `${c.name} (${c.count} images, ${c.model})`;
      sel.append(o);
    }
    if (data.some((c) => c.name === keep)) sel.value = keep;
    const info = data.find((c) => c.name === sel.value);
    $('collection-info').textContent = info ? `${info.count} images` : 'No collection yet: create one above.';
  } catch (e) {
    showError((e as Error).message);
  }
}

/** Thumbnails need the API key, so they are fetched and shown as object URLs. */
async function thumb(collection: string, id: string, caption: string): Promise<HTMLElement> {
  const fig = document.createElement('figure');
  fig.dataset['id'] = id;
  const img = document.createElement('img');
  img.alt = id;
  const r = await fetch(`/v1/collections/${encodeURIComponent(collection)}/images/${encodeURIComponent(id)}/thumbnail`, { headers: headers() });
  if (r.ok) img.src = URL.createObjectURL(await r.blob());
  const cap = document.createElement('figcaption');
  cap.textContent = caption;
  fig.append(img, cap);
  return fig;
}

function results(title: string): HTMLElement {
  const t = $('results-title');
  t.textContent = title;
  t.hidden = false;
  const el = $('results');
  el.textContent = '';
  return el;
}

async function createCollection(e: Event): Promise<void> {
  e.preventDefault();
  showError(null);
  const name = ($('collection-name') as HTMLInputElement).value.trim();
  const files = [...(($('collection-files') as HTMLInputElement).files ?? [])];
  const progress = $('index-progress') as HTMLProgressElement;
  const status = $('index-status');
  const button = $('create-button') as HTMLButtonElement;
  try {
    files.forEach(checkImageFile);
    button.disabled = true;
    await api('PUT', `/v1/collections/${encodeURIComponent(name)}`, { model: model() });
    progress.hidden = false;
    progress.max = files.length;
    progress.value = 0;
    for (let i = 0; i < files.length; i += 4) {
      const chunk = files.slice(i, i + 4);
      status.textContent = `Indexing ${i + chunk.length} of ${files.length}…`;
      await api('POST', `/v1/collections/${encodeURIComponent(name)}/images`, form({}, chunk.map((f) => ['images', f] as [string, File])));
      progress.value = i + chunk.length;
    }
    status.textContent = `Indexed ${files.length} images into ${name}.`;
    await refreshCollections(name);
  } catch (err) {
    status.textContent = '';
    showError((err as Error).message);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- private mode

/** The part of dinov2-ts/web (served at /web/) that private mode calls. */
interface WebModule {
  loadDinov2(weights: string | Blob, opts: Record<string, unknown>): Promise<{ dispose(): Promise<void> }>;
  embedImages(model: unknown, images: File[], opts: { size?: number; pool?: 'cls' }): Promise<Float32Array[]>;
}

let webModel: { id: string; model: Promise<{ dispose(): Promise<void> }> } | null = null;

function privateMode(): boolean {
  return ($('private-mode') as HTMLInputElement).checked;
}

/**
 * The collection's embedding of `file` computed in this page: the collection's model and size, the server's
 * own weights (GET /v1/models/:id/weights), the eval transform, the CLS token, L2-normalised as the server
 * stores its vectors. Nothing of the image is sent anywhere.
 */
async function privateVector(file: File, collection: string): Promise<number[]> {
  const status = $('private-status');
  const info = await api<{ model: string; size: number; dim: number }>('GET', `/v1/collections/${encodeURIComponent(collection)}`);
  // A variable, so that esbuild leaves the import to the browser (the bundle is served beside the app).
  const entry = '/web/dinov2-web.js';
  const web = (await import(entry)) as WebModule;
  if (webModel?.id !== info.model) {
    const previous = webModel;
    const m = await api<{ config: Record<string, unknown>; weights: string | null }>('GET', `/v1/models/${encodeURIComponent(info.model)}`);
    if (!m.weights) throw new Error(`private mode needs the weights of model '${info.model}' in the page, and this server does not hand them out`);
    status.textContent = `Loading model ${info.model} into this page…`;
    // With an API key the weights are fetched with it; otherwise by URL (Range requests, kept in the Cache API).
    const weights = apiKey() ? await (await fetch(m.weights, { headers: headers() })).blob() : m.weights;
    webModel = { id: info.model, model: web.loadDinov2(weights, { device: 'cpu', config: m.config }) };
    webModel.model.catch(() => (webModel = null));
    if (previous) void previous.model.then((x) => x.dispose()).catch(() => undefined);
  }
  const model = await webModel!.model;
  status.textContent = `Embedding ${file.name} in this page…`;
  const [v] = await web.embedImages(model, [file], { size: info.size, pool: 'cls' });
  if (!v || v.length !== info.dim) throw new Error(`the page computed ${v?.length ?? 0} numbers, the collection holds ${info.dim}`);
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  status.textContent = `${file.name}: embedded in this page; only the vector was sent.`;
  return Array.from(v, (x) => x / norm);
}

async function search(files: File[]): Promise<void> {
  const file = files[0]!;
  showError(null);
  const name = current();
  try {
    checkImageFile(file);
    if (!name) throw new Error('create a collection first');
    const path = `/v1/collections/${encodeURIComponent(name)}/search`;
    const r = privateMode()
      ? await api<{ data: { id: string; similarity: number }[] }>('POST', path, { vector: await privateVector(file, name), k: 8 })
      : await api<{ data: { id: string; similarity: number }[] }>('POST', path, form({ k: '8' }, [['image', file]]));
    const el = results(`Nearest to ${file.name}`);
    el.className = 'grid';
    for (const hit of r.data) el.append(await thumb(name, hit.id, `${hit.id} · ${hit.similarity.toFixed(3)}`));
    if (r.data.length === 0) el.textContent = 'The collection is empty.';
  } catch (e) {
    showError((e as Error).message);
  }
}

async function duplicates(): Promise<void> {
  showError(null);
  const name = current();
  try {
    const r = await api<{ groups: { ids: string[]; similarity_to_first: number[] }[] }>('GET', `/v1/collections/${encodeURIComponent(name)}/duplicates`);
    const el = results(`${r.groups.length} group(s) of near-duplicates`);
    el.className = '';
    for (const g of r.groups) {
      const div = document.createElement('div');
      div.className = 'group grid';
      div.setAttribute('role', 'group');
      div.setAttribute('aria-label', `Duplicates of ${g.ids[0]}`);
      for (let i = 0; i < g.ids.length; i++) div.append(await thumb(name, g.ids[i]!, `${g.ids[i]} · ${g.similarity_to_first[i]!.toFixed(3)}`));
      el.append(div);
    }
    if (r.groups.length === 0) el.textContent = 'No near-duplicates.';
  } catch (e) {
    showError((e as Error).message);
  }
}

async function curateCollection(): Promise<void> {
  showError(null);
  const name = current();
  const budget = Number(($('curate-budget') as HTMLInputElement).value);
  try {
    const r = await api<{ selected: string[]; levels: { k: number; clusters: string[][] }[] }>('POST', `/v1/collections/${encodeURIComponent(name)}/curate`, { budget });
    const chosen = new Set(r.selected);
    const el = results(`${r.levels[0]!.k} clusters; ${r.selected.length} images kept (outlined)`);
    el.className = '';
    for (const [i, members] of r.levels[0]!.clusters.entries()) {
      const div = document.createElement('div');
      div.className = 'group grid';
      div.setAttribute('role', 'group');
      div.setAttribute('aria-label', `Cluster ${i + 1}`);
      for (const id of members) {
        const t = await thumb(name, id, chosen.has(id) ? `${id} (kept)` : id);
        if (chosen.has(id)) t.classList.add('selected');
        div.append(t);
      }
      el.append(div);
    }
  } catch (e) {
    showError((e as Error).message);
  }
}

// ---------------------------------------------------------------- start

async function start(): Promise<void> {
  const keyInput = $('api-key') as HTMLInputElement;
  keyInput.value = sessionStorage.getItem('dinov2-api-key') ?? '';
  keyInput.addEventListener('change', () => {
    sessionStorage.setItem('dinov2-api-key', keyInput.value);
    void loadModels();
  });
  setupTabs();
  setupDrop('explore-drop', 'explore-file', (f) => void explore(f));
  setupDrop('search-drop', 'search-file', (f) => void search(f));
  $('create-form').addEventListener('submit', (e) => void createCollection(e));
  $('collection-select').addEventListener('change', () => void refreshCollections());
  $('duplicates-button').addEventListener('click', () => void duplicates());
  $('curate-button').addEventListener('click', () => void curateCollection());
  await loadModels();
  document.body.dataset['ready'] = 'true';
}

async function loadModels(): Promise<void> {
  try {
    const r = await api<{ default: string; heads: string[]; data: { id: string; loaded: boolean }[] }>('GET', '/v1/models');
    heads = r.heads ?? [];
    const sel = $('model') as HTMLSelectElement;
    sel.textContent = '';
    for (const m of r.data) {
      const o = document.createElement('option');
      o.value = m.id;
      o.textContent = m.id;
      sel.append(o);
    }
    sel.value = r.default;
    showError(null);
  } catch (e) {
    showError(`${(e as Error).message}${apiKey() ? '' : ' — if the server needs a key, enter it under "API key"'}`);
  }
}

void start();
