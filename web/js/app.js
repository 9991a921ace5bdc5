// The pages and the router. Every text that comes from the API is set with textContent, never
// parsed as HTML.

import * as api from "./api.js";
import { formatDate, language, setLanguage, t, translate } from "./i18n.js";
import * as social from "./social.js";

const app = document.getElementById("app");
const nav = document.getElementById("nav");
// A message carried to the next page (after logout, deletion, …): a text, shown as information,
// or {text, kind: "error"}.
let notice = null;

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

/** A page drawn on a wider card (tables). */
function wide(view) {
  return { ...view, wide: true };
}

function show({ titleKey, leadKey, content, wide: isWide = false }) {
  document.title = `${t(titleKey)} · ${t("brand")}`;
  const header = el("div", { class: "page-header" }, el("h1", { text: t(titleKey) }), leadKey ? el("p", { class: "lead", text: t(leadKey) }) : null);
  const carried = notice ? noticeBox(notice) : null;
  notice = null;
  app.replaceChildren(el("section", { class: isWide ? "card wide" : "card" }, header, carried, ...content));
  app.querySelector("input")?.focus();
}

function noticeBox(carried) {
  const { text, kind } = typeof carried === "string" ? { text: carried, kind: "info" } : carried;
  return el("div", { class: `alert alert-${kind} notice`, role: kind === "error" ? "alert" : "status", text });
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
        el("p", { class: "switch" }, el("a", { href: "#/forgot", text: t("login.forgot") })),
      ),
      socialButtons("login", social.providerNames()),
      el("p", { class: "switch" }, `${t("login.switch")} `, el("a", { href: "#/join", text: t("nav.join") })),
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
      ),
      socialButtons("login", social.providerNames()),
      el("p", { class: "switch" }, `${t("join.switch")} `, el("a", { href: "#/login", text: t("nav.login") })),
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

  // The provider accounts linked to this user: each can be disconnected (the API refuses the
  // last way to sign in), and each configured provider not linked yet can be connected.
  async connections() {
    const links = await api.socialAccounts();
    const box = el("div", { class: "connections-box", id: "connections-box" }, alertBox());
    const items = links.map((link) =>
      el(
        "li",
        { class: "session social-account", "data-provider": link.provider, "data-id": String(link.id) },
        el(
          "div",
          {},
          el("strong", { text: providerLabel(link.provider) }),
          el("p", {
            class: "muted",
            text: [t("connections.since", { when: formatDate(link.date_joined) }), link.last_login ? t("connections.lastLogin", { when: formatDate(link.last_login) }) : null]
              .filter(Boolean)
              .join(" · "),
          }),
        ),
        el("button", {
          type: "button",
          class: "secondary",
          text: t("connections.disconnect"),
          onclick: (event) =>
            attempt(box, event.currentTarget, async () => {
              await api.disconnectSocial(link.id);
              notice = t("connections.disconnected", { provider: providerLabel(link.provider) });
              render();
            }),
        }),
      ),
    );
    if (!items.length) items.push(el("li", { class: "muted", id: "connections-none", text: t("connections.none") }));
    const linked = new Set(links.map((link) => link.provider));
    const available = social.providerNames().filter((name) => !linked.has(name));
    return page(
      "connections.title",
      "connections.lead",
      box,
      el("ul", { class: "sessions social-accounts", id: "social-accounts" }, items),
      available.length ? el("h2", { class: "subhead", text: t("connections.add") }) : null,
      socialButtons("connect", available),
    );
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

  // Staff only: #/admin (find users) and #/admin/user/<pk> (one user). Anyone else signed in
  // gets the not-allowed page; the API refuses them anyway.
  async admin([section, pk] = []) {
    if (!(await staffStatus())) return notAllowed(staff.detail);
    try {
      return section === "user" && pk ? await adminUserPage(pk) : await adminUsersPage();
    } catch (error) {
      if (!(error instanceof api.ApiError)) throw error;
      if (error.status === 403) {
        // Reading is every active staff user's: a 403 here means this user is no longer one.
        staff.known = false;
        staff.detail = typeof error.body.detail === "string" ? error.body.detail : null;
        return notAllowed(staff.detail);
      }
      // An unknown pk (404) or a malformed one (400).
      if (section === "user" && (error.status === 404 || error.status === 400)) {
        return page("admin.user.title", null, el("div", { class: "alert alert-error", role: "alert", id: "admin-missing", text: apiMessage(error) }), backToUsers());
      }
      throw error;
    }
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
    event.detail?.provider ? el("span", { class: "badge muted-badge provider-badge", text: providerLabel(event.detail.provider) }) : null,
    el("p", { class: "muted", text: `${formatDate(event.time)} · ${where}` }),
  );
}

// --- social login (js/social.js) ---------------------------------------------------------------

/** A provider's name as the page shows it (an unknown one as it is). */
function providerLabel(name) {
  const key = `provider.${name}`;
  const text = t(key);
  return text === key ? String(name) : text;
}

/** "Continue with Google", "Connect Kakao", …: `action` is "continue" or "connect". */
function socialLabel(action, name) {
  const key = `social.${action}.${name}`;
  const text = t(key);
  return text === key ? t(`social.${action}`, { provider: providerLabel(name) }) : text;
}

/**
 * A button per provider of `names`, each starting its flow: `mode` "login" (sign in or up) or
 * "connect" (link to the signed-in user). Null for no provider.
 */
function socialButtons(mode, names) {
  if (!names.length) return null;
  const action = mode === "connect" ? "connect" : "continue";
  const box = el("div", { class: `social social-${mode}`, id: `social-${mode}` }, mode === "login" ? el("p", { class: "divider", text: t("social.or") }) : null, alertBox());
  for (const name of names) {
    box.append(
      el("button", {
        type: "button",
        class: `social-button provider-${name}`,
        id: `${mode === "connect" ? "connect" : "social"}-${name}`,
        "data-provider": name,
        text: socialLabel(action, name),
        onclick: async (event) => {
          const button = event.currentTarget;
          clearErrors(box);
          button.disabled = true;
          try {
            await social.begin(name, mode); // leaves the page
          } catch (error) {
            showAlert(box, t(error instanceof social.SocialError ? error.key : "social.error.start"));
            button.disabled = false;
          }
        },
      }),
    );
  }
  return box;
}

/**
 * The provider sent the person back (`answer`: its code and state, or its error). The address is
 * cleared first, so the code is in neither the address bar nor the history when the API is
 * called; a state this tab did not make, or made more than ten minutes ago, or already used, is
 * refused before any call.
 */
async function finishSocial(answer) {
  social.clearAddress();
  let trip;
  try {
    trip = social.claim(answer);
  } catch (error) {
    if (!(error instanceof social.SocialError)) throw error;
    const { provider, mode, code } = error.values;
    notice = { kind: "error", text: t(error.key, { provider: provider ? providerLabel(provider) : "", code }) };
    await api.refresh().catch(() => false);
    if (mode === "connect" && api.isSignedIn()) go("connections");
    else render();
    return;
  }
  renderNav();
  show(page(trip.mode === "connect" ? "social.connecting" : "social.signingIn", null, el("p", { class: "loading", id: "social-working", text: t("loading") })));
  try {
    if (trip.mode === "connect") {
      await api.connectSocial(trip.provider, trip.credential);
      notice = t("connections.connected", { provider: providerLabel(trip.provider) });
      go("connections");
    } else {
      await api.socialLogin(trip.provider, trip.credential);
      go("mypage");
    }
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 401 && !api.isSignedIn()) {
      signedOut(t("error.signedOut"));
      return;
    }
    notice = { kind: "error", text: apiMessage(error) };
    go(trip.mode === "connect" ? "connections" : "login");
  }
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

// --- admin (staff only) ----------------------------------------------------------------------

// Whether the signed-in user is staff. The front end cannot read is_staff (GET user/ leaves it
// out), so it asks the admin list for one user, once per sign-in: 200 is staff, 403 is not (404:
// the admin routes are off). The answer holds for the page's life, until the session changes.
const staff = { known: null, detail: null, probe: null, generation: 0 };

function forgetStaff() {
  staff.known = null;
  staff.detail = null;
  staff.probe = null;
  staff.generation += 1;
}

/** Resolves true or false; rejects with what is neither answer (no network, session over). */
function staffStatus() {
  if (!api.isSignedIn()) return Promise.resolve(false);
  if (staff.known !== null) return Promise.resolve(staff.known);
  if (!staff.probe) {
    const generation = staff.generation;
    staff.probe = api.adminUsers({ limit: 1 }).then(
      () => settleStaff(generation, true, null),
      (error) => {
        if (error instanceof api.ApiError && (error.status === 403 || error.status === 404)) {
          return settleStaff(generation, false, error.body.detail);
        }
        if (generation === staff.generation) staff.probe = null; // asked again next time
        throw error;
      },
    );
  }
  return staff.probe;
}

function settleStaff(generation, isStaff, detail) {
  // An answer about a session that has ended since is dropped.
  if (generation === staff.generation) {
    staff.known = isStaff;
    staff.detail = typeof detail === "string" ? detail : null;
    renderNav();
  }
  return isStaff;
}

/** The probe, for the navigation: its failures are left for the next page to meet. */
function probeStaffInBackground() {
  staffStatus().catch(() => false);
}

const FLAGS = ["is_active", "is_staff", "is_superuser", "email_verified"];
const ANY_YES_NO = [["", "filter.any"], ["true", "filter.yes"], ["false", "filter.no"]];
const PAGE_SIZES = ["10", "25", "50", "100"];

// The last search, kept while the page lives: back from a user, or after a deletion, the list
// is the one that search gives.
const adminSearch = { q: "", is_active: "", is_staff: "", limit: "25" };

// The user a save answered with: the page after it draws them without reading them again.
let savedUser = null;

/** The page a signed-in user who is not staff gets for every admin route. */
function notAllowed(detail) {
  return page(
    "admin.denied.title",
    "admin.denied.lead",
    el("div", { class: "alert alert-error", role: "alert", id: "admin-denied", text: detail || t("admin.denied.text") }),
  );
}

/** The API's message for a failed call, as one line. */
function apiMessage(error) {
  if (!(error instanceof api.ApiError)) return t("error.unexpected");
  if (error.status === 0) return t("error.network");
  if (typeof error.body.detail === "string") return error.body.detail;
  const messages = Object.values(error.body).flatMap((value) => (Array.isArray(value) ? value.map(String) : []));
  return messages.length ? messages.join(" ") : t("error.unexpected");
}

/** Runs `action` for `button`; a failure is shown in `box` (an element holding an .alert). */
async function attempt(box, button, action) {
  clearErrors(box);
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 401 && !api.isSignedIn()) {
      signedOut(t("error.signedOut"));
      return;
    }
    showError(box, error);
  } finally {
    button.disabled = false;
  }
}

/**
 * The in-page confirmation of an action (no window.confirm): `open(question)` shows the question
 * with Confirm (`#<id>-confirm`) and Cancel (`#<id>-cancel`); Confirm runs `action`, whose failure
 * lands in `step.box`.
 */
function confirmStep(id, action, { danger = false } = {}) {
  const question = el("span", { class: "question", id: `${id}-question` });
  const confirm = el("button", { type: "button", class: danger ? "primary danger" : "primary", id: `${id}-confirm`, text: t("admin.confirm") });
  const cancel = el("button", { type: "button", class: "secondary", id: `${id}-cancel`, text: t("admin.cancel") });
  const bar = el("div", { class: "confirm", role: "group", hidden: true }, question, confirm, cancel);
  const step = {
    bar,
    box: null,
    onclose: () => {},
    open(text) {
      question.textContent = text;
      bar.hidden = false;
      confirm.focus();
    },
    close() {
      bar.hidden = true;
      step.onclose();
    },
  };
  cancel.addEventListener("click", () => step.close());
  confirm.addEventListener("click", () =>
    attempt(step.box, confirm, async () => {
      try {
        await action();
      } finally {
        step.close();
      }
    }),
  );
  return step;
}

/** A button (`#<id>`) whose action waits for its confirmation step. */
function confirmedAction(id, labelKey, questionKey, box, action, { danger = false } = {}) {
  const start = el("button", { type: "button", class: danger ? "secondary danger" : "secondary", id, text: t(labelKey) });
  const step = confirmStep(id, action, { danger });
  step.box = box;
  step.onclose = () => {
    start.hidden = false;
  };
  start.addEventListener("click", () => {
    clearErrors(box);
    start.hidden = true;
    step.open(t(questionKey));
  });
  return el("div", { class: "action" }, start, step.bar);
}

function checkbox(name) {
  const id = `field-${name}`;
  return el(
    "div",
    { class: "field check", "data-field": name },
    el("label", { for: id }, el("input", { id, name, type: "checkbox", "aria-describedby": `${id}-error` }), el("span", { text: t(`field.${name}`) })),
    el("p", { class: "field-error", id: `${id}-error`, role: "alert" }),
  );
}

function fullName(user) {
  return [user.first_name, user.last_name].filter(Boolean).join(" ");
}

function flagBadges(user) {
  const badge = (flag, key) => el("span", { class: `badge flag flag-${flag}`, text: t(key) });
  return el(
    "span",
    { class: "flags" },
    user.is_active ? badge("active", "flag.active") : badge("inactive", "flag.inactive"),
    user.is_staff ? badge("staff", "flag.staff") : null,
    user.is_superuser ? badge("superuser", "flag.superuser") : null,
    user.email_verified ? badge("verified", "flag.verified") : null,
  );
}

function userRow(user) {
  return el(
    "tr",
    { class: "admin-user", "data-pk": String(user.pk), "data-email": user.email },
    el("td", {}, el("a", { href: `#/admin/user/${encodeURIComponent(user.pk)}`, text: user.email })),
    el("td", { text: fullName(user) || "—" }),
    el("td", {}, flagBadges(user)),
  );
}

function backToUsers() {
  return el("p", { class: "switch back" }, el("a", { href: "#/admin", id: "admin-back", text: t("admin.back") }));
}

/** #/admin: users by the start of their email, two filters, a page at a time. */
async function adminUsersPage() {
  const rows = el("tbody");
  const table = el(
    "table",
    { class: "admin-table", id: "admin-results" },
    el("thead", {}, el("tr", {}, ["admin.column.email", "admin.column.name", "admin.column.flags"].map((key) => el("th", { scope: "col", text: t(key) })))),
    rows,
  );
  const none = el("p", { class: "muted", id: "admin-none", text: t("admin.none"), hidden: true });
  const more = el("button", { type: "button", class: "secondary", id: "admin-more", text: t("admin.more"), hidden: true });
  let searches = 0; // an answer arriving after a newer search started is dropped
  const search = async (query, cursor) => {
    const id = cursor ? searches : ++searches;
    if (!cursor) more.hidden = true;
    const { results, next } = await api.adminUsers({ ...query, cursor });
    if (id !== searches) return;
    if (!cursor) rows.replaceChildren();
    rows.append(...results.map(userRow));
    table.hidden = !rows.children.length;
    none.hidden = rows.children.length > 0;
    more.hidden = !next;
    more.onclick = () => attempt(searchForm, more, () => search(query, next));
  };
  const searchForm = form(
    [
      el(
        "div",
        { class: "filters" },
        field("q", { type: "search" }),
        field("is_active", { options: ANY_YES_NO }),
        field("is_staff", { options: ANY_YES_NO }),
        field("limit", { options: PAGE_SIZES.map((size) => [size, size]) }),
      ),
    ],
    "admin.search",
    async ({ q, is_active, is_staff, limit }) => {
      Object.assign(adminSearch, { q: q.trim(), is_active, is_staff, limit });
      await search({ ...adminSearch }, null);
    },
  );
  searchForm.id = "admin-search-form";
  searchForm.setAttribute("role", "search");
  searchForm.querySelector("button[type=submit]").id = "admin-search";
  searchForm.elements.namedItem("q").setAttribute("autocomplete", "off");
  for (const [name, value] of Object.entries(adminSearch)) searchForm.elements.namedItem(name).value = value;
  await search({ ...adminSearch }, null);
  return wide(page("admin.title", "admin.lead", searchForm, el("div", { class: "table-scroll" }, table), none, more));
}

/** What the edit form changes of `user`: only those fields are sent (the flags only if changed:
 *  only a superuser may send is_staff or is_superuser at all). */
function changesOf(formNode, user) {
  const changes = {};
  for (const name of ["first_name", "last_name", "gender"]) {
    const value = formNode.elements.namedItem(name).value;
    if (value !== (user[name] ?? "")) changes[name] = value;
  }
  const born = formNode.elements.namedItem("date_of_birth").value || null;
  if (born !== (user.date_of_birth || null)) changes.date_of_birth = born;
  for (const name of FLAGS) {
    const checked = formNode.elements.namedItem(name).checked;
    if (checked !== Boolean(user[name])) changes[name] = checked;
  }
  return changes;
}

/** #/admin/user/<pk>: the user's fields, an edit form, their sessions and latest events, and
 *  the actions, each behind a confirmation step. */
async function adminUserPage(pk) {
  const user = savedUser && String(savedUser.pk) === pk ? savedUser : await api.adminUser(pk);
  savedUser = null;

  const fact = (key, value) => el("div", {}, el("dt", { text: t(key) }), el("dd", {}, value));
  const facts = el(
    "dl",
    { class: "facts", id: "admin-user" },
    fact("admin.fact.email", el("span", { id: "admin-user-email", text: user.email })),
    fact("admin.fact.name", el("span", { id: "admin-user-name", text: fullName(user) || "—" })),
    fact("admin.fact.pk", el("span", { id: "admin-user-pk", text: String(user.pk) })),
    fact("admin.fact.joined", formatDate(user.date_joined)),
    fact("admin.fact.lastLogin", formatDate(user.last_login)),
    fact("admin.fact.flags", el("span", { id: "admin-user-flags" }, flagBadges(user))),
  );

  // Save: the changed fields, named in the confirmation, then sent.
  let pending = {};
  const save = confirmStep("admin-save", async () => {
    savedUser = await api.updateAdminUser(user.pk, pending);
    notice = t("admin.saved");
    render();
  });
  const editor = form(
    [...personalFields(), el("div", { class: "checks" }, FLAGS.map(checkbox))],
    "admin.save",
    async (_, formNode) => {
      pending = changesOf(formNode, user);
      const names = Object.keys(pending);
      if (!names.length) {
        save.close();
        showAlert(formNode, t("admin.noChanges"), "info");
        return;
      }
      save.open(t("admin.saveAsk", { fields: names.map((name) => t(`field.${name}`)).join(", ") }));
    },
    save.bar,
  );
  save.box = editor;
  editor.id = "admin-user-form";
  editor.querySelector("button[type=submit]").id = "admin-save";
  for (const name of ["first_name", "last_name", "gender", "date_of_birth"]) {
    editor.elements.namedItem(name).value = user[name] ?? "";
  }
  for (const name of FLAGS) editor.elements.namedItem(name).checked = Boolean(user[name]);

  const sessions = user.sessions?.length
    ? user.sessions.map((session) =>
        el(
          "li",
          { class: "session admin-session", "data-session": session.id },
          el(
            "div",
            {},
            el("strong", { text: session.device || t("sessions.unknownDevice") }),
            el("p", {
              class: "muted",
              text: [t("sessions.started", { when: formatDate(session.created) }), t("sessions.lastUsed", { when: formatDate(session.last_used) }), session.ip]
                .filter(Boolean)
                .join(" · "),
            }),
          ),
        ),
      )
    : [el("li", { class: "muted", id: "admin-no-sessions", text: t("admin.sessions.none") })];
  const events = user.events?.length ? user.events.map(eventItem) : [el("li", { class: "muted", text: t("activity.none") })];

  const actions = el("section", { class: "admin-actions", id: "admin-actions" }, el("h2", { text: t("admin.actions.title") }), alertBox());
  actions.append(
    el(
      "div",
      { class: "action-list" },
      confirmedAction("admin-sign-out", "admin.signOut", "admin.signOutAsk", actions, async () => {
        const { revoked } = await api.adminSignOut(user.pk);
        notice = t("admin.signedOut", { count: revoked ?? 0 });
        render();
      }),
      confirmedAction("admin-reset", "admin.reset", "admin.resetAsk", actions, async () => {
        const { detail } = await api.adminPasswordReset(user.pk);
        notice = typeof detail === "string" ? detail : t("admin.resetSent");
        render();
      }),
      confirmedAction(
        "admin-delete",
        "admin.delete",
        "admin.deleteAsk",
        actions,
        async () => {
          await api.deleteAdminUser(user.pk);
          notice = t("admin.deleted", { email: user.email });
          go("admin");
        },
        { danger: true },
      ),
    ),
  );

  return wide(
    page(
      "admin.user.title",
      "admin.user.lead",
      facts,
      el("section", { class: "admin-section" }, el("h2", { text: t("admin.edit.title") }), editor),
      el("section", { class: "admin-section" }, el("h2", { text: t("admin.sessions.title") }), el("ul", { class: "sessions", id: "admin-sessions" }, sessions)),
      el("section", { class: "admin-section" }, el("h2", { text: t("admin.events.title") }), el("ul", { class: "events", id: "admin-events" }, events)),
      actions,
      backToUsers(),
    ),
  );
}

const PROTECTED = new Set(["mypage", "profile", "password", "sessions", "connections", "activity", "admin"]);

function renderNav() {
  const links = api.isSignedIn()
    ? [
        ["mypage", "nav.mypage"],
        ["profile", "nav.profile"],
        ["sessions", "nav.sessions"],
        // Connected accounts, where the deployment configures a provider.
        ...(social.providerNames().length ? [["connections", "nav.connections"]] : []),
        ["activity", "nav.activity"],
        ["password", "nav.password"],
      ]
    : [["login", "nav.login"], ["join", "nav.join"]];
  if (api.isSignedIn()) {
    // The admin link once the probe has said "staff"; the probe redraws the navigation.
    if (staff.known === true) links.push(["admin", "nav.admin"]);
    else if (staff.known === null) probeStaffInBackground();
  }
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
    ...links.map(([route, key]) =>
      el("a", { href: `#/${route}`, "aria-current": current === route || current.startsWith(`${route}/`) ? "page" : null, text: t(key) }),
    ),
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
api.onSessionChange(() => {
  // Signed out or in as someone else: whether they are staff is asked again.
  forgetStaff();
  renderNav();
});
window.addEventListener("hashchange", render);
// Back from a provider's page to this one kept in the back/forward cache: drawn again, so no
// button stays disabled from the click that left.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) render();
});

const answer = social.returned();
if (answer) {
  // Back from a provider: its code signs in (or connects) instead of the silent refresh.
  finishSocial(answer).catch(() => render());
} else {
  // A silent refresh restores the session from the cookie when the page loads.
  api
    .refresh()
    .catch(() => false)
    .then(render);
}
