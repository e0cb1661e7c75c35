// Copy buttons: <button data-copy="ID"> copies the text of element ID.
'use strict';
document.addEventListener('click', (e) => {
  const button = e.target.closest('[data-copy]');
  if (!button) return;
  const el = document.getElementById(button.dataset.copy);
  if (!el) return;
  const done = (label) => { button.textContent = label; setTimeout(() => { button.textContent = 'Copy'; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(el.textContent).then(() => done('Copied'), () => done('Select and copy'));
    return;
  }
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
  done(document.execCommand && document.execCommand('copy') ? 'Copied' : 'Selected');
});
