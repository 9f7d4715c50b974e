// Submit forms marked data-autosubmit as soon as the page loads (no inline script: CSP).
document.querySelectorAll("form[data-autosubmit]").forEach(function (form) { form.submit(); });
