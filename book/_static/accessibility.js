// Names that match what the theme's controls show (book/_ext/accessibility.py explains each fix).
document.addEventListener("DOMContentLoaded", () => {
  // "Search Ctrl+K" buttons: the accessible name contains the words on the button.
  for (const button of document.querySelectorAll(".search-button-field[aria-label]")) {
    button.setAttribute("aria-label", button.textContent.replace(/\s+/g, " ").trim());
  }
  // The colour-mode switch shows icons only: they are decoration, its name is "Color mode".
  for (const icon of document.querySelectorAll(".theme-switch-button .theme-switch")) {
    icon.removeAttribute("title");
    icon.setAttribute("aria-hidden", "true");
  }
  // The search form submits with Enter; give it a real (visually hidden) submit button too.
  for (const form of document.querySelectorAll("form.bd-search")) {
    if (!form.querySelector('[type="submit"]')) {
      const submit = document.createElement("button");
      submit.type = "submit";
      submit.className = "visually-hidden";
      submit.textContent = "Search";
      form.appendChild(submit);
    }
  }
});
