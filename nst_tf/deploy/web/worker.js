// Runs the networks off the main thread. Messages: {id, cmd: "load", style},
// {id, cmd: "paint", style, rgba, width, height, strength, originalColors} and
// {id, cmd: "blend", strength, originalColors} (the last painting again, with
// other options: no network run). Replies {id, ...} or {id, error}.
import * as ort from './ort/ort.wasm.min.mjs';

ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
// Threads need a cross-origin isolated page (COOP and COEP headers); elsewhere one.
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 8) : 1;

const sessions = new Map();
let last = null;  // {photo, painted, width, height}: the last painting, for "blend".

function session(style) {
  if (!sessions.has(style)) {
    sessions.set(style, ort.InferenceSession.create(`models/${style}.onnx`,
                                                    {executionProviders: ['wasm']}));
  }
  return sessions.get(style);
}

// ITU-R BT.601 RGB -> YUV (rows: R, G, B), as nst_tf.core.colors; and its inverse.
const RGB_TO_YUV = [[0.299, -0.14714119, 0.61497538],
                    [0.587, -0.28886916, -0.51496512],
                    [0.114, 0.43601035, -0.10001026]];
const YUV_TO_RGB = inverse(RGB_TO_YUV);

function inverse(m) {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [[(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
          [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
          [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det]];
}

function toRgb(y, u, v, k) {
  return y * YUV_TO_RGB[0][k] + u * YUV_TO_RGB[1][k] + v * YUV_TO_RGB[2][k];
}

// The painting with nst-tf --model's options: blended with the photo by strength,
// given the photo's colours (chroma) if originalColors; as RGBA bytes.
function finish(strength, originalColors) {
  const {photo, painted, width, height} = last;
  const out = new Uint8ClampedArray(width * height * 4);
  const m = RGB_TO_YUV;
  for (let p = 0, q = 0; p < width * height * 3; p += 3, q += 4) {
    let r = photo[p] + strength * (painted[p] - photo[p]);
    let g = photo[p + 1] + strength * (painted[p + 1] - photo[p + 1]);
    let b = photo[p + 2] + strength * (painted[p + 2] - photo[p + 2]);
    if (originalColors) {
      const y = r * m[0][0] + g * m[1][0] + b * m[2][0];
      const u = photo[p] * m[0][1] + photo[p + 1] * m[1][1] + photo[p + 2] * m[2][1];
      const v = photo[p] * m[0][2] + photo[p + 1] * m[1][2] + photo[p + 2] * m[2][2];
      [r, g, b] = [toRgb(y, u, v, 0), toRgb(y, u, v, 1), toRgb(y, u, v, 2)];
    }
    // Uint8ClampedArray clips to [0, 255] and rounds halves to even, as numpy's rint.
    out[q] = r;
    out[q + 1] = g;
    out[q + 2] = b;
    out[q + 3] = 255;
  }
  return out;
}

async function paint({style, rgba, width, height}) {
  const photo = new Float32Array(width * height * 3);
  for (let p = 0, q = 0; p < photo.length; p += 3, q += 4) {
    photo[p] = rgba[q];
    photo[p + 1] = rgba[q + 1];
    photo[p + 2] = rgba[q + 2];
  }
  const network = await session(style);
  const input = new ort.Tensor('float32', photo, [1, height, width, 3]);
  const outputs = await network.run({[network.inputNames[0]]: input});
  last = {photo, painted: outputs[network.outputNames[0]].data, width, height};
}

onmessage = async (event) => {
  const {id, cmd} = event.data;
  try {
    if (cmd === 'load') {
      await session(event.data.style);
      postMessage({id, threads: ort.env.wasm.numThreads});
      return;
    }
    const start = performance.now();
    if (cmd === 'paint') {
      await paint(event.data);
    } else if (!last) {
      throw new Error('nothing painted yet');
    }
    const rgba = finish(event.data.strength, event.data.originalColors);
    postMessage({id, rgba, width: last.width, height: last.height, ms: performance.now() - start},
                [rgba.buffer]);
  } catch (error) {
    postMessage({id, error: String((error && error.message) || error)});
  }
};
