/**
 * The browser's stand-in for Node-only modules that shared code reaches (the web build substitutes it for
 * src/hub/loadModel.ts and src/formats/open.ts): each function says what to use in a page instead.
 */
export { checkStateDict, type CheckOptions } from '../formats/checkStateDict.js';

function nodeOnly(what: string): never {
  throw new Error(`${what} reads the file system and is not available in a browser; use loadDinov2 from 'dinov2-ts/web' (a URL, a Hugging Face repo id, a File or an ArrayBuffer)`);
}

export async function loadModelByNameOrPath(): Promise<never> {
  return nodeOnly('Dinov2.load');
}

export async function openWeights(): Promise<never> {
  return nodeOnly('openWeights');
}

export async function openTensorFile(): Promise<never> {
  return nodeOnly('openTensorFile');
}
