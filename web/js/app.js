// The pages and the router. Every text that comes from the API is set with textContent, never
// parsed as HTML.

import * as api from "./api.js";
import { formatDate, language, setLanguage, t, translate } from "./i18n.js";

const app = document.getElementById("app");
const nav = document.getElementById("nav");
let notice = null; // a message carried to the next page (after logout, deletion, …)

// --- small DOM helpers ---------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") element.textContent = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) element.append(child);
  }
  return element;
}

function field(name, { type = "text", autocomplete, required = false, hint, options } = {}) {
  const id = `field-${name}`;
  const control = options
    ? el("select", { id, name }, options.map(([value, label]) => el("option", { value, text: t(label) })))
    : el("input", { id, name, type, autocomplete, required, "aria-describedby": `${id}-error` });
  return el(
    "div",
    { class: "field", "data-field": name },
    el("label", { for: id, text: t(`field.${name}`) }),
    control,
    hint ? el("p", { class: "hint", text: t(hint) }) : null,
    el("p", { class: "field-error", id: `${id}-error`, role: "alert" }),
  );
}

function alertBox() {
  return el("div", { class: "alert", role: "alert", hidden: true });
}

function showAlert(form, message, kind = "error") {
  const box = form.querySelector(".alert");
  box.textContent = message;
  box.className = `alert alert-${kind}`;
  box.hidden = !message;
}

function clearErrors(form) {
  for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
  for (const node of form.querySelectorAll(".field.invalid")) node.classList.remove("invalid");
  showAlert(form, "");
}

/** The API's answer to a failed call, placed where it belongs: field errors under their fields. */
function showError(form, error) {
  if (!(error instanceof api.ApiError)) {
    showAlert(form, t("error.unexpected"));
    return;
  }
  if (error.status === 0) {
    showAlert(form, t("error.network"));
    return;
  }
  const body = error.body;
  const loose = [];
  for (const [name, messages] of Object.entries(body)) {
    const list = Array.isArray(messages) ? messages.map(String) : [];
    const slot = form.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
    if (slot && list.length) {
      slot.classList.add("invalid");
      slot.querySelector(".field-error").textContent = list.join(" ");
    } else if (name === "non_field_errors") {
      loose.push(...list);
    }
  }
  if (typeof body.detail === "string") loose.push(body.detail);
  if (loose.length) showAlert(form, loose.join(" "));
  else if (!form.querySelector(".field.invalid")) showAlert(form, t("error.unexpected"));
}

function values(form) {
  const data = {};
  for (const [name, value] of new FormData(form)) data[name] = value;
  return data;
}

/** A form whose submit runs `action(values)`; errors land in the form. */
function form(fields, submitLabel, action, extra = []) {
  const node = el("form", { novalidate: true }, alertBox(), fields, el("button", { type: "submit", class: "primary", text: t(submitLabel) }), extra);
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(node);
    const button = node.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await action(values(node), node);
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 401 && !api.isSignedIn()) {
        signedOut(t("error.signedOut"));
        return;
      }
      showError(node, error);
    } finally {
      button.disabled = false;
    }
  });
  return node;
}

/** What a page shows; `render` puts it on screen. */
function page(titleKey, leadKey, ...content) {
  return { titleKey, leadKey, content };
}

function show({ titleKey, leadKey, content }) {
  document.title = `${t(titleKey)} · ${t("brand")}`;
  const header = el("div", { class: "page-header" }, el("h1", { text: t(titleKey) }), leadKey ? el("p", { class: "lead", text: t(leadKey) }) : null);
  const carried = notice ? el("div", { class: "alert alert-info", role: "status", text: notice }) : null;
  notice = null;
  app.replaceChildren(el("section", { class: "card" }, header, carried, ...content));
  app.querySelector("input")?.focus();
}

function go(route) {
  if (location.hash === `#/${route}`) render();
  else location.hash = `#/${route}`;
}

function signedOut(message) {
  notice = message;
  go("login");
}

/** The optional fields join and profile share: names, gender, date of birth. */
function personalFields() {
  return [
    el("div", { class: "row" }, field("first_name", { autocomplete: "given-name" }), field("last_name", { autocomplete: "family-name" })),
    el(
      "div",
      { class: "row" },
      field("gender", { options: [["", "gender.none"], ["female", "gender.female"], ["male", "gender.male"]] }),
      field("date_of_birth", { type: "date", autocomplete: "bday" }),
    ),
  ];
}

// --- pages -----------------------------------------------------------------------------------

const PAGES = {
  login() {
    return page(
      "login.title",
      "login.lead",
      form(
        [field("email", { type: "email", autocomplete: "username", required: true }), field("password", { type: "password", autocomplete: "current-password", required: true })],
        "login.submit",
        async ({ email, password }) => {
          await api.login(email, password);
          go("mypage");
        },
        [
          el("p", { class: "switch" }, el("a", { href: "#/forgot", text: t("login.forgot") })),
          el("p", { class: "switch" }, `${t("login.switch")} `, el("a", { href: "#/join", text: t("nav.join") })),
        ],
      ),
    );
  },

  // Asks for a reset link; the answer is the same whether a user has the address or not.
  forgot() {
    return page(
      "forgot.title",
      "forgot.lead",
      form([field("email", { type: "email", autocomplete: "email", required: true })], "forgot.submit", async ({ email }, formNode) => {
        await api.requestPasswordReset(email, language());
        showAlert(formNode, t("forgot.sent"), "success");
      }),
    );
  },

  // The page a reset link opens: #/reset/<uid>/<token>.
  reset([uid = "", token = ""] = []) {
    return page(
      "reset.title",
      "reset.lead",
      form(
        [
          field("new_password1", { type: "password", autocomplete: "new-password", required: true, hint: "hint.password" }),
          field("new_password2", { type: "password", autocomplete: "new-password", required: true }),
        ],
        "reset.submit",
        async (fields, formNode) => {
          try {
            await api.confirmPasswordReset({ ...fields, uid, token });
          } catch (error) {
            // A link that does not hold (used, expired, mistyped): say so, not "Invalid value".
            if (error instanceof api.ApiError && (error.body?.uid || error.body?.token)) {
              showAlert(formNode, t("reset.badLink"));
              return;
            }
            throw error;
          }
          notice = t("reset.done");
          go("login");
        },
      ),
    );
  },

  // The page a confirmation link opens: #/verify/<key>. It confirms only when its button is
  // pressed, as allauth confirms on POST: a mail gateway that opens every link it scans must not
  // confirm an address for whoever registered it.
  verify([key = ""] = []) {
    const links = el("p", { class: "switch" }, el("a", { href: "#/login", text: t("nav.login") }), " · ", el("a", { href: "#/resend", text: t("resend.title") }));
    return page(
      "verify.title",
      "verify.lead",
      form(
        [],
        "verify.submit",
        async (_, formNode) => {
          try {
            await api.verifyEmail(key);
          } catch (error) {
            if (!(error instanceof api.ApiError) || error.status !== 404) throw error;
            showAlert(formNode, t("verify.badLink"));
            return;
          }
          formNode.querySelector("button[type=submit]").hidden = true;
          showAlert(formNode, t("verify.done"), "success");
        },
        links,
      ),
    );
  },

  resend() {
    return page(
      "resend.title",
      "resend.lead",
      form([field("email", { type: "email", autocomplete: "email", required: true })], "resend.submit", async ({ email }, formNode) => {
        await api.resendConfirmation(email, language());
        showAlert(formNode, t("resend.sent"), "success");
      }),
    );
  },

  join() {
    return page(
      "join.title",
      "join.lead",
      form(
        [
          field("email", { type: "email", autocomplete: "email", required: true }),
          field("password1", { type: "password", autocomplete: "new-password", required: true, hint: "hint.password" }),
          field("password2", { type: "password", autocomplete: "new-password", required: true }),
          ...personalFields(),
        ],
        "join.submit",
        async (fields) => {
          if (!fields.date_of_birth) delete fields.date_of_birth;
          const user = await api.join(fields, language());
          if (!user) {
            // EMAIL_VERIFICATION=mandatory: the address first.
            notice = t("join.checkMail");
            go("login");
            return;
          }
          go("mypage");
        },
        el("p", { class: "switch" }, `${t("join.switch")} `, el("a", { href: "#/login", text: t("nav.login") })),
      ),
    );
  },

  async mypage() {
    const [greeting, user] = await Promise.all([api.myPage(), api.user()]);
    return page("mypage.title", null, el("p", { class: "greeting", id: "greeting", text: greeting.message }), el("p", { class: "muted", text: t("mypage.signedIn", { email: user.email }) }));
  },

  async profile() {
    const user = await api.user();
    const node = form(
      [
        field("email", { type: "email" }),
        ...personalFields(),
      ],
      "profile.submit",
      async ({ first_name, last_name, gender, date_of_birth }, formNode) => {
        await api.updateUser({ first_name, last_name, gender, date_of_birth: date_of_birth || null });
        showAlert(formNode, t("profile.saved"), "success");
      },
    );
    for (const [name, value] of Object.entries(user)) {
      const control = node.elements.namedItem(name);
      if (control) control.value = value ?? "";
    }
    const email = node.elements.namedItem("email");
    email.readOnly = true;
    email.removeAttribute("name"); // read-only: never sent
    return page("profile.title", null, node, deleteSection());
  },

  password() {
    return page(
      "password.title",
      "password.lead",
      form(
        [
          field("old_password", { type: "password", autocomplete: "current-password", required: true }),
          field("new_password1", { type: "password", autocomplete: "new-password", required: true, hint: "hint.password" }),
          field("new_password2", { type: "password", autocomplete: "new-password", required: true }),
        ],
        "password.submit",
        async (fields, formNode) => {
          if (!fields.old_password) delete fields.old_password;
          await api.changePassword(fields);
          formNode.reset();
          showAlert(formNode, t("password.saved"), "success");
        },
      ),
    );
  },

  async sessions() {
    const list = await api.sessions();
    const items = list.map((session) =>
      el(
        "li",
        { class: session.current ? "session current" : "session", "data-session": session.id },
        el(
          "div",
          {},
          el("strong", { text: session.device || t("sessions.unknownDevice") }),
          session.current ? el("span", { class: "badge", text: t("sessions.current") }) : null,
          el("p", { class: "muted", text: `${t("sessions.started", { when: formatDate(session.created) })} · ${t("sessions.lastUsed", { when: formatDate(session.last_used) })} · ${t("sessions.expires", { when: formatDate(session.expires) })}${session.ip ? ` · ${session.ip}` : ""}` }),
        ),
        el("button", {
          type: "button",
          class: "secondary",
          text: t("sessions.end"),
          onclick: async () => {
            await api.endSession(session.id);
            if (session.current) {
              await api.logout();
              signedOut(t("loggedOut"));
            } else {
              render();
            }
          },
        }),
      ),
    );
    const revoke = el("button", {
      type: "button",
      class: "secondary",
      text: t("sessions.revokeOthers"),
      onclick: async () => {
        const { revoked } = await api.revokeOtherSessions();
        notice = t("sessions.revoked", { count: revoked });
        render();
      },
    });
    return page("sessions.title", "sessions.lead", el("ul", { class: "sessions" }, items), list.length > 1 ? revoke : null);
  },

  async activity() {
    const list = el("ul", { class: "events" });
    const more = el("button", { type: "button", class: "secondary", id: "more-events", text: t("activity.more") });
    const append = async (cursor) => {
      const { results, next } = await api.events(cursor);
      list.append(...results.map(eventItem));
      more.hidden = !next;
      more.onclick = async () => {
        more.disabled = true;
        try {
          await append(next);
        } finally {
          more.disabled = false;
        }
      };
    };
    await append(null);
    if (!list.children.length) list.append(el("li", { class: "muted", text: t("activity.none") }));
    return page("activity.title", "activity.lead", list, more);
  },
};

/** One security event as the activity page shows it: what, when, from where, and why. */
function eventItem(event) {
  const why = event.detail?.reason || event.detail?.outcome;
  const where = [event.device || t("sessions.unknownDevice"), event.ip].filter(Boolean).join(" · ");
  return el(
    "li",
    { class: `event event-${event.type}`, "data-event": event.type },
    el("strong", { text: t(`event.${event.type}`) }),
    why ? el("span", { class: "badge muted-badge", text: t(`event.why.${why}`) }) : null,
    el("p", { class: "muted", text: `${formatDate(event.time)} · ${where}` }),
  );
}

function deleteSection() {
  return el(
    "section",
    { class: "danger-zone" },
    el("h2", { text: t("delete.title") }),
    el("p", { class: "muted", text: t("delete.lead") }),
    form([field("password", { type: "password", autocomplete: "current-password", required: true })], "delete.submit", async ({ password }) => {
      await api.deleteAccount(password);
      signedOut(t("deleted"));
    }),
  );
}

const PROTECTED = new Set(["mypage", "profile", "password", "sessions", "activity"]);

function renderNav() {
  const links = api.isSignedIn()
    ? [["mypage", "nav.mypage"], ["profile", "nav.profile"], ["sessions", "nav.sessions"], ["activity", "nav.activity"], ["password", "nav.password"]]
    : [["login", "nav.login"], ["join", "nav.join"]];
  const current = location.hash.slice(2);
  const logout = api.isSignedIn()
    ? [el("button", {
        type: "button",
        class: "link",
        id: "logout",
        text: t("nav.logout"),
        onclick: async () => {
          await api.logout();
          signedOut(t("loggedOut"));
        },
      })]
    : [];
  nav.replaceChildren(
    ...links.map(([route, key]) => el("a", { href: `#/${route}`, "aria-current": current === route ? "page" : null, text: t(key) })),
    ...logout,
  );
}

let renders = 0; // a render whose calls end after a newer one started is dropped

async function render() {
  const id = ++renders;
  // A route may carry parameters after its name: #/reset/<uid>/<token>, #/verify/<key>.
  let [route, ...params] = (location.hash.slice(2) || (api.isSignedIn() ? "mypage" : "login")).split("/");
  params = params.map((param) => {
    try {
      return decodeURIComponent(param);
    } catch {
      return param;
    }
  });
  if (!Object.hasOwn(PAGES, route)) route = "login";
  if (PROTECTED.has(route) && !api.isSignedIn()) route = "login";
  if (!PROTECTED.has(route) && api.isSignedIn() && (route === "login" || route === "join")) route = "mypage";
  renderNav();
  try {
    const view = await PAGES[route](params);
    if (id === renders) show(view);
  } catch (error) {
    if (id !== renders) return;
    if (error instanceof api.ApiError && error.status === 401) {
      signedOut(t("error.signedOut"));
      return;
    }
    const message = error instanceof api.ApiError && error.status === 0 ? t("error.network") : t("error.unexpected");
    app.replaceChildren(el("section", { class: "card" }, el("div", { class: "alert alert-error", role: "alert", text: message })));
  }
  renderNav();
}

// --- start -----------------------------------------------------------------------------------

const picker = document.getElementById("language");
picker.value = language();
picker.addEventListener("change", () => {
  setLanguage(picker.value);
  translate();
  render();
});
translate();
api.onSessionChange(renderNav);
window.addEventListener("hashchange", render);

// A silent refresh restores the session from the cookie when the page loads.
api
  .refresh()
  .catch(() => false)
  .then(render);
