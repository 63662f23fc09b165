// Runs in the browser and writes into #status what it can verify from there: that it ran,
// that style.css applied (the computed colour of #title), that logo.png loaded (16x16).
function check() {
  const parts = ['script ran'];
  const colour = getComputedStyle(document.getElementById('title')).color;
  parts.push(colour === 'rgb(0, 128, 128)' ? 'css ok' : 'css FAILED (' + colour + ')');
  const img = document.getElementById('logo');
  parts.push(img.complete && img.naturalWidth === 16 && img.naturalHeight === 16
    ? 'image 16x16 ok' : 'image FAILED (' + img.naturalWidth + 'x' + img.naturalHeight + ')');
  document.getElementById('status').textContent = parts.join('; ');
}
window.addEventListener('load', check);
