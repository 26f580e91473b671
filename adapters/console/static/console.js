// Keel console: the console's only script, loaded from Keel (the CSP
// allows script from 'self' only, nothing inline, no eval).
//
// A <button type="button" data-copy="ID"> copies the text of the element
// with id ID (a field's value, any other element's text) to the clipboard
// and says "Copied" in a live region it adds after itself, so that a
// screen reader announces it. A button written with the hidden attribute
// appears only with this script; without it the text stays in its
// readonly field, where it can be selected and copied by hand.
(() => {
  "use strict";

  const textOf = (el) =>
    el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement ? el.value : el.textContent;

  // select puts the text under the user's hand when the script cannot
  // copy it, and is what the old copy command copies.
  const select = (el) => {
    if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) {
      el.focus();
      el.select();
      return;
    }
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  };

  // copy uses the Clipboard API, which browsers offer only on secure
  // origins (HTTPS, localhost); a console served over plain HTTP on
  // another host falls back to the copy command on the selection.
  const copy = async (el) => {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(textOf(el));
      return;
    }
    select(el);
    if (!document.execCommand("copy")) {
      throw new Error("copy refused");
    }
  };

  for (const button of document.querySelectorAll("button[data-copy]")) {
    const status = document.createElement("span");
    status.className = "copy-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    button.after(status);
    button.hidden = false;
    button.addEventListener("click", async () => {
      const el = document.getElementById(button.dataset.copy);
      if (!el) {
        return;
      }
      status.textContent = "";
      try {
        await copy(el);
        status.textContent = "Copied";
      } catch {
        select(el);
        status.textContent = "Not copied: the text is selected, copy it with Ctrl+C or ⌘C.";
      }
    });
  }
})();
