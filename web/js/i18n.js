// The page's words in English and Korean. The API's own messages (field errors, `detail`) are
// shown as the API sends them: they are the contract's, in English, as the tutorial's are.

const MESSAGES = {
  en: {
    brand: "Account",
    language: "Language",
    loading: "Loading…",
    footer: "Tokens stay in this tab's memory; the refresh token lives in an HttpOnly cookie no script can read.",
    "nav.login": "Log in",
    "nav.join": "Create account",
    "nav.mypage": "My page",
    "nav.profile": "Profile",
    "nav.sessions": "Devices",
    "nav.password": "Password",
    "nav.activity": "Activity",
    "activity.title": "Recent activity",
    "activity.lead": "Sign-ins, failed attempts and changes to your account, newest first. If you do not recognise one, change your password and sign out the other devices.",
    "activity.more": "Show more",
    "activity.none": "Nothing yet.",
    "event.join": "Account created",
    "event.login": "Signed in",
    "event.login_failed": "Failed sign-in",
    "event.login_throttled": "Sign-in blocked after too many attempts",
    "event.logout": "Signed out",
    "event.token_reuse_detected": "A used sign-in token came back: that device was signed out",
    "event.password_changed": "Password changed",
    "event.password_reset_requested": "Password reset requested",
    "event.password_reset_done": "Password reset",
    "event.email_verified": "Email address confirmed",
    "event.session_ended": "A device was signed out",
    "event.sessions_revoked": "All other devices signed out",
    "event.account_deleted": "Account deleted",
    "event.admin_update": "Changed by an administrator",
    "event.admin_sign_out": "Signed out by an administrator",
    "event.admin_password_reset": "Password reset sent by an administrator",
    "event.admin_delete": "Deleted by an administrator",
    "event.why.wrong_password": "wrong password",
    "event.why.inactive": "account inactive",
    "event.why.unknown_address": "unknown address",
    "event.why.email_not_verified": "address not confirmed",
    "event.why.mailed": "link mailed",
    "event.why.limit_reached": "hourly limit reached",
    "nav.logout": "Log out",
    "login.title": "Log in",
    "login.lead": "Welcome back. Use the email you signed up with.",
    "login.submit": "Log in",
    "login.switch": "No account yet?",
    "login.forgot": "Forgot your password?",
    "join.checkMail": "Your account is created. Follow the link we mailed you to confirm your address, then log in.",
    "forgot.title": "Forgot your password?",
    "forgot.lead": "Enter the email you signed up with; we will mail you a link to choose a new password.",
    "forgot.submit": "Send the link",
    "forgot.sent": "If an account has this address, a link is on its way. It works once, for three days.",
    "reset.title": "Choose a new password",
    "reset.lead": "Every device signed in to your account will be signed out.",
    "reset.submit": "Set the new password",
    "reset.done": "Your new password is set. Log in with it.",
    "reset.badLink": "This link does not work any more (used, expired or incomplete). Ask for a new one.",
    "verify.title": "Confirm your email",
    "verify.lead": "Press the button to confirm that this address is yours.",
    "verify.submit": "Confirm my address",
    "verify.done": "Your email address is confirmed.",
    "verify.badLink": "This link does not work (used, expired or incomplete).",
    "resend.title": "Send the confirmation again",
    "resend.lead": "Enter the email you signed up with.",
    "resend.submit": "Send",
    "resend.sent": "If an account has this address and it is not confirmed yet, a link is on its way.",
    "join.title": "Create your account",
    "join.lead": "One email, one password. Everything else is optional.",
    "join.submit": "Create account",
    "join.switch": "Already have an account?",
    "field.email": "Email",
    "field.password": "Password",
    "field.password1": "Password",
    "field.password2": "Password again",
    "field.first_name": "First name",
    "field.last_name": "Last name",
    "field.gender": "Gender",
    "field.date_of_birth": "Date of birth",
    "field.old_password": "Current password",
    "field.new_password1": "New password",
    "field.new_password2": "New password again",
    "gender.none": "Prefer not to say",
    "gender.female": "Female",
    "gender.male": "Male",
    "hint.password": "At least 8 characters, not only digits, not like your email.",
    "mypage.title": "My page",
    "mypage.signedIn": "You are signed in as {email}.",
    "profile.title": "Profile",
    "profile.submit": "Save",
    "profile.saved": "Saved.",
    "password.title": "Change password",
    "password.lead": "Your other devices will be signed out; this one stays signed in.",
    "password.submit": "Change password",
    "password.saved": "Your new password has been saved.",
    "sessions.title": "Devices",
    "sessions.lead": "Where your account is signed in. End any session you do not recognise.",
    "sessions.current": "This device",
    "sessions.started": "Signed in {when}",
    "sessions.lastUsed": "last active {when}",
    "sessions.expires": "ends by {when}",
    "sessions.end": "Sign out",
    "sessions.revokeOthers": "Sign out all other devices",
    "sessions.revoked": "{count} other sessions ended.",
    "sessions.unknownDevice": "Unknown device",
    "delete.title": "Delete account",
    "delete.lead": "This deletes your account and signs out every device. It cannot be undone.",
    "delete.submit": "Delete my account",
    "deleted": "Your account has been deleted.",
    "loggedOut": "You have been logged out.",
    "error.network": "The service cannot be reached. Check your connection and try again.",
    "error.unexpected": "Something went wrong. Please try again.",
    "error.signedOut": "Your session has ended. Please log in again.",
  },
  ko: {
    brand: "계정",
    language: "언어",
    loading: "불러오는 중…",
    footer: "토큰은 이 탭의 메모리에만 있고, 리프레시 토큰은 스크립트가 읽을 수 없는 HttpOnly 쿠키에 있습니다.",
    "nav.login": "로그인",
    "nav.join": "회원가입",
    "nav.mypage": "마이페이지",
    "nav.profile": "내 정보",
    "nav.sessions": "기기",
    "nav.password": "비밀번호",
    "nav.activity": "활동",
    "activity.title": "최근 활동",
    "activity.lead": "로그인, 실패한 시도, 계정 변경 내역입니다(최신순). 모르는 활동이 있으면 비밀번호를 바꾸고 다른 기기에서 로그아웃하세요.",
    "activity.more": "더 보기",
    "activity.none": "아직 없습니다.",
    "event.join": "계정 생성",
    "event.login": "로그인",
    "event.login_failed": "로그인 실패",
    "event.login_throttled": "시도가 너무 많아 로그인 차단",
    "event.logout": "로그아웃",
    "event.token_reuse_detected": "이미 쓴 로그인 토큰이 다시 쓰여 그 기기를 로그아웃함",
    "event.password_changed": "비밀번호 변경",
    "event.password_reset_requested": "비밀번호 재설정 요청",
    "event.password_reset_done": "비밀번호 재설정",
    "event.email_verified": "이메일 주소 확인",
    "event.session_ended": "기기 로그아웃",
    "event.sessions_revoked": "다른 모든 기기 로그아웃",
    "event.account_deleted": "계정 삭제",
    "event.admin_update": "관리자가 변경함",
    "event.admin_sign_out": "관리자가 로그아웃시킴",
    "event.admin_password_reset": "관리자가 비밀번호 재설정 메일을 보냄",
    "event.admin_delete": "관리자가 삭제함",
    "event.why.wrong_password": "잘못된 비밀번호",
    "event.why.inactive": "비활성 계정",
    "event.why.unknown_address": "없는 주소",
    "event.why.email_not_verified": "주소 미확인",
    "event.why.mailed": "링크 발송",
    "event.why.limit_reached": "시간당 한도 도달",
    "nav.logout": "로그아웃",
    "login.title": "로그인",
    "login.lead": "다시 오신 것을 환영합니다. 가입한 이메일을 입력하세요.",
    "login.submit": "로그인",
    "login.switch": "아직 계정이 없으신가요?",
    "login.forgot": "비밀번호를 잊으셨나요?",
    "join.checkMail": "계정이 만들어졌습니다. 메일로 보낸 링크를 열어 주소를 확인한 뒤 로그인하세요.",
    "forgot.title": "비밀번호를 잊으셨나요?",
    "forgot.lead": "가입한 이메일을 입력하시면 새 비밀번호를 정하는 링크를 메일로 보내 드립니다.",
    "forgot.submit": "링크 보내기",
    "forgot.sent": "이 주소로 가입된 계정이 있다면 링크를 보냈습니다. 링크는 3일 동안 한 번만 쓸 수 있습니다.",
    "reset.title": "새 비밀번호 정하기",
    "reset.lead": "이 계정에 로그인된 모든 기기에서 로그아웃됩니다.",
    "reset.submit": "새 비밀번호 저장",
    "reset.done": "새 비밀번호가 설정되었습니다. 새 비밀번호로 로그인하세요.",
    "reset.badLink": "더 이상 쓸 수 없는 링크입니다(이미 사용했거나, 만료되었거나, 일부가 빠졌습니다). 새 링크를 요청하세요.",
    "verify.title": "이메일 확인",
    "verify.lead": "이 주소가 본인의 것임을 확인하려면 버튼을 누르세요.",
    "verify.submit": "주소 확인",
    "verify.done": "이메일 주소가 확인되었습니다.",
    "verify.badLink": "쓸 수 없는 링크입니다(이미 사용했거나, 만료되었거나, 일부가 빠졌습니다).",
    "resend.title": "확인 메일 다시 받기",
    "resend.lead": "가입한 이메일을 입력하세요.",
    "resend.submit": "보내기",
    "resend.sent": "이 주소로 가입된 계정이 있고 아직 확인되지 않았다면 링크를 보냈습니다.",
    "join.title": "계정 만들기",
    "join.lead": "이메일과 비밀번호만 있으면 됩니다. 나머지는 선택입니다.",
    "join.submit": "가입하기",
    "join.switch": "이미 계정이 있으신가요?",
    "field.email": "이메일",
    "field.password": "비밀번호",
    "field.password1": "비밀번호",
    "field.password2": "비밀번호 확인",
    "field.first_name": "이름",
    "field.last_name": "성",
    "field.gender": "성별",
    "field.date_of_birth": "생년월일",
    "field.old_password": "현재 비밀번호",
    "field.new_password1": "새 비밀번호",
    "field.new_password2": "새 비밀번호 확인",
    "gender.none": "밝히지 않음",
    "gender.female": "여성",
    "gender.male": "남성",
    "hint.password": "8자 이상, 숫자만으로는 안 되며 이메일과 비슷하지 않아야 합니다.",
    "mypage.title": "마이페이지",
    "mypage.signedIn": "{email} 계정으로 로그인되어 있습니다.",
    "profile.title": "내 정보",
    "profile.submit": "저장",
    "profile.saved": "저장되었습니다.",
    "password.title": "비밀번호 변경",
    "password.lead": "다른 기기에서는 로그아웃되고, 이 기기는 로그인 상태로 유지됩니다.",
    "password.submit": "비밀번호 변경",
    "password.saved": "새 비밀번호가 저장되었습니다.",
    "sessions.title": "기기",
    "sessions.lead": "계정이 로그인된 곳입니다. 모르는 세션은 종료하세요.",
    "sessions.current": "이 기기",
    "sessions.started": "{when}에 로그인",
    "sessions.lastUsed": "마지막 사용 {when}",
    "sessions.expires": "{when}까지",
    "sessions.end": "로그아웃",
    "sessions.revokeOthers": "다른 모든 기기에서 로그아웃",
    "sessions.revoked": "다른 세션 {count}개를 종료했습니다.",
    "sessions.unknownDevice": "알 수 없는 기기",
    "delete.title": "계정 삭제",
    "delete.lead": "계정을 삭제하고 모든 기기에서 로그아웃합니다. 되돌릴 수 없습니다.",
    "delete.submit": "계정 삭제",
    "deleted": "계정이 삭제되었습니다.",
    "loggedOut": "로그아웃되었습니다.",
    "error.network": "서비스에 연결할 수 없습니다. 연결을 확인한 뒤 다시 시도하세요.",
    "error.unexpected": "문제가 발생했습니다. 다시 시도하세요.",
    "error.signedOut": "세션이 종료되었습니다. 다시 로그인하세요.",
  },
};

export const LANGUAGES = Object.keys(MESSAGES);
// Only the chosen language is remembered (no token or personal data is ever stored).
const STORAGE_KEY = "account.language";

function preferred() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (LANGUAGES.includes(saved)) return saved;
  for (const tag of navigator.languages || [navigator.language]) {
    const language = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(language)) return language;
  }
  return "en";
}

let current = preferred();

export function language() {
  return current;
}

export function setLanguage(language) {
  if (!LANGUAGES.includes(language)) return;
  current = language;
  localStorage.setItem(STORAGE_KEY, language);
  document.documentElement.lang = language;
}

/** The message `key` in the current language, `{name}` placeholders filled from `values`. */
export function t(key, values = {}) {
  const text = MESSAGES[current][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/** Dates as the reader's locale writes them. */
export function formatDate(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return new Intl.DateTimeFormat(current === "ko" ? "ko-KR" : "en-GB", {
    dateStyle: "medium",
    timeStyle: "short",
  }).format(date);
}

/** Fills every element marked `data-i18n` under `root`. */
export function translate(root = document) {
  document.documentElement.lang = current;
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
}
