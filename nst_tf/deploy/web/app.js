// The page: picks a photo and a style, hands the pixels to worker.js and shows
// the painting. index.html?photo=URL&size=N&style=NAME paints that photo on load;
// the title then starts with "painted" (with the milliseconds) or "error".
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const worker = new Worker('worker.js', {type: 'module'});
const waiting = new Map();
let nextId = 0;
let catalogue = null;
let photo = null;  // The ImageBitmap being painted.
let webcam = null;  // {stream, frames, start} while the webcam runs.

function call(message, transfer = []) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    waiting.set(id, {resolve, reject});
    worker.postMessage({...message, id}, transfer);
  });
}

worker.onmessage = (event) => {
  const {id, error, ...reply} = event.data;
  const promise = waiting.get(id);
  waiting.delete(id);
  if (error) promise.reject(new Error(error)); else promise.resolve(reply);
};
worker.onerror = (event) => fail(`the painter did not start (${event.message || 'worker error'})`);

function status(text, error = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
}

function fail(reason) {
  status(`Error: ${reason}`, true);
  document.title = `error: ${reason}`;
}

const style = () => document.querySelector('input[name=style]:checked').value;
const options = () => ({strength: $('strength').value / 100, originalColors: $('original-colors').checked});

// Python's round(): halves to even, as nst-tf sizes pictures.
function roundHalfEven(x) {
  const r = Math.round(x);
  return (Math.abs(x % 1) === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

// The (width, height) with long side `size`, as nst-tf --image_size; a smaller
// picture keeps its own size.
function fitted(width, height, size) {
  const scale = Math.min(1, size / Math.max(width, height));
  return [Math.max(1, roundHalfEven(width * scale)), Math.max(1, roundHalfEven(height * scale))];
}

// The pixels of `source` (an image or a video frame) at the chosen size, drawn into `canvas`.
function pixels(source, width, height, canvas) {
  const [w, h] = fitted(width, height, +$('size').value);
  if (Math.min(w, h) < 16) throw new Error(`the photo is too thin: ${w}x${h}; the network needs at least 16 px a side`);
  canvas.width = w;
  canvas.height = h;
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.imageSmoothingQuality = 'high';
  context.drawImage(source, 0, 0, w, h);
  return context.getImageData(0, 0, w, h);
}

function show({rgba, width, height}) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d').putImageData(new ImageData(rgba, width, height), 0, 0);
  const url = canvas.toDataURL('image/png');
  $('result').src = url;
  $('download').href = url;
  $('download').download = `painted-${style()}.png`;
  $('download').hidden = false;
}

async function paint() {
  if (!photo || webcam) return;
  try {
    const image = pixels(photo, photo.width, photo.height, $('photo'));
    status(`Painting ${image.width}x${image.height}…`);
    const reply = await call({cmd: 'paint', style: style(), rgba: image.data, width: image.width,
                              height: image.height, ...options()}, [image.data.buffer]);
    show(reply);
    const ms = Math.round(reply.ms);
    status(`Painted ${reply.width}x${reply.height} in ${ms} ms.`);
    $('result-caption').textContent = `Painting (${style()}, ${ms} ms)`;
    document.title = `painted in ${ms} ms: ${style()} ${reply.width}x${reply.height}`;
  } catch (error) {
    fail(error.message);
  }
}

async function reblend() {
  if (!photo || webcam || !$('result').src) return;
  try {
    show(await call({cmd: 'blend', ...options()}));
  } catch (error) {
    fail(error.message);
  }
}

async function open(blob) {
  try {
    photo = await createImageBitmap(blob, {imageOrientation: 'from-image'});
  } catch {
    photo = null;
    fail('this browser cannot decode the photo (not an image, or a damaged one)');
    return;
  }
  await paint();
}

async function openUrl(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    fail(`cannot load the photo ${url} (${error.message})`);
    return;
  }
  if (!response.ok) {
    fail(`cannot load the photo ${url} (HTTP ${response.status})`);
    return;
  }
  await open(await response.blob());
}

async function startWebcam() {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: true, audio: false});
  } catch (error) {
    fail(`no webcam (${error.message})`);
    return;
  }
  const video = $('camera');
  video.srcObject = stream;
  await video.play();
  webcam = {stream, frames: 0, start: performance.now()};
  $('webcam').textContent = 'Stop the webcam';
  $('result').hidden = true;
  $('live').hidden = false;
  while (webcam && webcam.stream === stream) {
    try {
      const image = pixels(video, video.videoWidth, video.videoHeight, $('photo'));
      const reply = await call({cmd: 'paint', style: style(), rgba: image.data, width: image.width,
                                height: image.height, ...options()}, [image.data.buffer]);
      if (!webcam || webcam.stream !== stream) break;
      const live = $('live');
      live.width = reply.width;
      live.height = reply.height;
      live.getContext('2d').putImageData(new ImageData(reply.rgba, reply.width, reply.height), 0, 0);
      webcam.frames += 1;
      const fps = webcam.frames / ((performance.now() - webcam.start) / 1000);
      status(`Webcam: ${webcam.frames} frames, ${fps.toFixed(1)} frames a second (${Math.round(reply.ms)} ms a frame).`);
      $('result-caption').textContent = `Live painting (${style()})`;
    } catch (error) {
      fail(error.message);
      stopWebcam();
    }
  }
}

function stopWebcam() {
  if (!webcam) return;
  webcam.stream.getTracks().forEach((track) => track.stop());
  webcam = null;
  $('webcam').textContent = 'Webcam';
  $('live').hidden = true;
  $('result').hidden = false;
}

function addStyles(models) {
  const wanted = params.get('style');
  if (wanted && !models.some((m) => m.id === wanted)) {
    throw new Error(`no style ${wanted}; this page has ${models.map((m) => m.id).join(', ')}`);
  }
  for (const [i, model] of models.entries()) {
    const label = document.createElement('label');
    label.className = 'style-choice';
    const input = Object.assign(document.createElement('input'), {
      type: 'radio', name: 'style', value: model.id, checked: wanted ? model.id === wanted : i === 0});
    const thumbnail = Object.assign(document.createElement('img'), {alt: '', src: model.thumbnail || ''});
    label.append(input, thumbnail, model.style.replaceAll(/[-_]/g, ' '));
    input.addEventListener('change', paint);
    $('styles').append(label);
  }
}

async function main() {
  try {
    catalogue = await (await fetch('models.json')).json();
    $('runtime').textContent = catalogue.runtime;
    addStyles(catalogue.models);
    if (params.get('size')) {
      const size = Number(params.get('size'));
      if (!(size >= 16 && size <= 8192)) throw new Error(`size must be 16-8192 px, not ${params.get('size')}`);
      const option = [...$('size').options].find((o) => +o.value === size) || new Option(`${size} px`, size);
      $('size').add(option);
      $('size').value = size;
    }
    const reply = await call({cmd: 'load', style: style()});
    $('status').dataset.threads = reply.threads;
    status(`Ready (${reply.threads} thread${reply.threads > 1 ? 's' : ''}). Choose or drop a photo.`);
  } catch (error) {
    fail(error.message);
    return;
  }
  $('file').addEventListener('change', () => $('file').files[0] && open($('file').files[0]));
  $('sample').addEventListener('click', () => openUrl(catalogue.sample));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files[0]) open(e.dataTransfer.files[0]);
  });
  $('size').addEventListener('change', paint);
  $('strength').addEventListener('input', () => {
    $('strength-value').textContent = `${$('strength').value}%`;
    reblend();
  });
  $('original-colors').addEventListener('change', reblend);
  $('webcam').addEventListener('click', () => (webcam ? stopWebcam() : startWebcam()));
  if (params.has('strength')) $('strength').value = Math.round(100 * Number(params.get('strength')));
  if (params.has('original_colors')) $('original-colors').checked = params.get('original_colors') !== '0';
  $('strength-value').textContent = `${$('strength').value}%`;
  if (params.get('photo')) await openUrl(params.get('photo'));
  else if (params.has('webcam')) await startWebcam();
}

main();
