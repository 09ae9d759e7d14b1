// Page text in Simplified Chinese (default) and English. Elements carry data-i18n="key";
// attributes are translated with data-i18n-attr="placeholder:key,title:key".

const messages = {
  "zh-CN": {
    "app.title": "信访接待大厅",
    "lang.switch": "English",
    "login.heading": "工作人员登录",
    "login.username": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.failed": "用户名或密码错误",
    "login.locked": "登录失败次数过多，请稍后再试",
    "lobby.heading": "接待室与会议室",
    "lobby.signedInAs": "当前用户",
    "lobby.signOut": "退出登录",
    "lobby.rooms": "正在进行的房间",
    "lobby.noRooms": "暂无房间",
    "lobby.newRoom": "新建房间",
    "lobby.roomId": "房间号（字母、数字、-、_）",
    "lobby.open": "开启并进入",
    "lobby.enter": "进入",
    "lobby.close": "关闭房间",
    "lobby.participants": "人",
    "lobby.invite": "生成邀请链接",
    "lobby.inviteName": "对方姓名",
    "lobby.inviteRole": "身份",
    "lobby.inviteHours": "有效时长（小时）",
    "lobby.inviteLink": "邀请链接（请通过安全渠道发送）",
    "lobby.copy": "复制",
    "lobby.copied": "已复制",
    "role.admin": "管理员",
    "role.leader": "领导",
    "role.staff": "工作人员",
    "role.security": "安保",
    "role.observer": "观察员",
    "role.petitioner": "来访群众",
    "room.preview": "进入前请检查摄像头和麦克风",
    "room.camera": "摄像头",
    "room.microphone": "麦克风",
    "room.noCamera": "不使用摄像头",
    "room.noMicrophone": "不使用麦克风",
    "room.join": "进入房间",
    "room.watchOnly": "您以观看身份进入，不会发送画面和声音",
    "room.permissionDenied": "无法使用摄像头或麦克风：请在浏览器设置中允许本网站使用，然后刷新页面。也可以不开摄像头直接进入。",
    "room.noToken": "链接无效：缺少入会凭证。请使用短信或工作人员发给您的完整链接。",
    "room.connecting": "正在连接…",
    "room.reconnecting": "连接中断，正在重新连接…",
    "room.mute": "静音",
    "room.unmute": "取消静音",
    "room.cameraOff": "关闭摄像头",
    "room.cameraOn": "打开摄像头",
    "room.leave": "离开",
    "room.left": "您已离开房间。",
    "room.closed": "房间已关闭。",
    "room.you": "我",
    "room.muted": "已静音",
    "room.cameraIsOff": "摄像头已关闭",
    "room.alone": "等待其他人进入…",
    "room.participants": "参会人员",
    "room.retrying": "稍后将自动重试。",
    "room.tapToPlay": "点击播放声音",
    "room.networkFailed": "网络连接失败，正在重新连接…",
    "room.deviceBusy": "摄像头或麦克风正被其他应用占用：请关闭其他应用后刷新页面。",
    "program.title": "大屏画面",
    "program.connecting": "正在连接大屏画面…",
    "program.fullscreen": "全屏",
    "program.open": "大屏画面",
    "program.layout": "画面布局",
    "program.caption": "画面字幕（如案件编号）",
    "program.apply": "应用",
    "layout.auto": "自动",
    "layout.speaker": "单画面（发言人）",
    "layout.side_by_side": "左右并排",
    "layout.pip": "画中画",
    "layout.2x2": "四分屏",
    "layout.3x3": "九分屏",
    "layout.4x4": "十六分屏",
    "layout.1+5": "一大五小",
    "layout.1+7": "一大七小",
    "error.invalid_program": "无法应用该画面设置。",
    "error.program_not_available": "本服务器暂时无法生成大屏画面。",
    "error.invalid_sdp": "浏览器与服务器协商失败，请刷新页面重试。",
    "error.unsupported_codecs": "您的浏览器不支持所需的音视频格式，请换用其他浏览器。",
    "error.codec_mismatch": "您的浏览器无法播放对方的视频格式，请换用其他浏览器。",
    "error.negotiation_failed": "浏览器与服务器协商失败，请刷新页面重试。",
    "error.nothing_published": "对方尚未开启摄像头或麦克风。",
    "error.too_many_sessions": "连接数过多，请刷新页面。",
    "error.too_many_messages": "操作过于频繁，请稍候。",
    "error.bad_request": "请求无效，请刷新页面重试。",
    "error.socket_closed": "与服务器的连接已断开。",
    "error.close_1006": "与服务器的连接已断开。",
    "error.invalid_token": "链接已失效或无效，请向工作人员索取新的链接。",
    "error.not_authenticated": "链接已失效或无效，请向工作人员索取新的链接。",
    "error.forbidden": "您的身份无权进行此操作。",
    "error.room_not_found": "房间尚未开启，请在预约时间前后再试。",
    "error.room_full": "房间人数已满。",
    "error.room_closed": "房间已关闭。",
    "error.generic": "出现问题：",
  },
  en: {
    "app.title": "Reception Hall",
    "lang.switch": "中文",
    "login.heading": "Staff sign-in",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.failed": "Wrong username or password",
    "login.locked": "Too many failed sign-ins; try again in a few minutes",
    "lobby.heading": "Reception and conference rooms",
    "lobby.signedInAs": "Signed in as",
    "lobby.signOut": "Sign out",
    "lobby.rooms": "Open rooms",
    "lobby.noRooms": "No rooms yet",
    "lobby.newRoom": "New room",
    "lobby.roomId": "Room id (letters, digits, - and _)",
    "lobby.open": "Open and enter",
    "lobby.enter": "Enter",
    "lobby.close": "Close room",
    "lobby.participants": "in room",
    "lobby.invite": "Make an invitation link",
    "lobby.inviteName": "Their name",
    "lobby.inviteRole": "Role",
    "lobby.inviteHours": "Valid for (hours)",
    "lobby.inviteLink": "Invitation link (send it over a trusted channel)",
    "lobby.copy": "Copy",
    "lobby.copied": "Copied",
    "role.admin": "Administrator",
    "role.leader": "Leader",
    "role.staff": "Staff",
    "role.security": "Security",
    "role.observer": "Observer",
    "role.petitioner": "Petitioner",
    "room.preview": "Check your camera and microphone before you enter",
    "room.camera": "Camera",
    "room.microphone": "Microphone",
    "room.noCamera": "No camera",
    "room.noMicrophone": "No microphone",
    "room.join": "Enter the room",
    "room.watchOnly": "You join to watch: your camera and microphone are not sent",
    "room.permissionDenied": "The camera or microphone is blocked: allow this site in the browser settings and reload. You can also enter without a camera.",
    "room.noToken": "This link is incomplete: it carries no join token. Use the full link from the SMS or from staff.",
    "room.connecting": "Connecting…",
    "room.reconnecting": "Connection lost, reconnecting…",
    "room.mute": "Mute",
    "room.unmute": "Unmute",
    "room.cameraOff": "Camera off",
    "room.cameraOn": "Camera on",
    "room.leave": "Leave",
    "room.left": "You have left the room.",
    "room.closed": "The room has been closed.",
    "room.you": "me",
    "room.muted": "muted",
    "room.cameraIsOff": "camera off",
    "room.alone": "Waiting for others to join…",
    "room.participants": "Participants",
    "program.title": "Program",
    "program.connecting": "Connecting to the program…",
    "program.fullscreen": "Full screen",
    "program.open": "Program",
    "program.layout": "Layout",
    "program.caption": "Caption (e.g. case number)",
    "program.apply": "Apply",
    "layout.auto": "Automatic",
    "layout.speaker": "Speaker",
    "layout.side_by_side": "Side by side",
    "layout.pip": "Picture in picture",
    "layout.2x2": "2 x 2",
    "layout.3x3": "3 x 3",
    "layout.4x4": "4 x 4",
    "layout.1+5": "1 + 5",
    "layout.1+7": "1 + 7",
    "error.invalid_program": "That program setting cannot be applied.",
    "error.program_not_available": "This server cannot make the program picture right now.",
    "room.retrying": "Trying again shortly.",
    "room.tapToPlay": "Tap to play sound",
    "room.networkFailed": "The network connection failed; reconnecting…",
    "room.deviceBusy": "Another app is using the camera or microphone: close it and reload.",
    "error.invalid_sdp": "The browser and the server could not agree; reload the page.",
    "error.unsupported_codecs": "This browser lacks the audio or video formats needed; try another browser.",
    "error.codec_mismatch": "This browser cannot play the other side's video format; try another browser.",
    "error.negotiation_failed": "The browser and the server could not agree; reload the page.",
    "error.nothing_published": "They have not turned on a camera or microphone yet.",
    "error.too_many_sessions": "Too many connections; reload the page.",
    "error.too_many_messages": "Too many actions at once; wait a moment.",
    "error.bad_request": "The request was not valid; reload the page.",
    "error.socket_closed": "The connection to the server was lost.",
    "error.close_1006": "The connection to the server was lost.",
    "error.invalid_token": "This link has expired or is not valid; ask staff for a new one.",
    "error.not_authenticated": "This link has expired or is not valid; ask staff for a new one.",
    "error.forbidden": "Your role may not do this.",
    "error.room_not_found": "The room is not open yet; try again around your appointment time.",
    "error.room_full": "The room is full.",
    "error.room_closed": "The room has been closed.",
    "error.generic": "Something went wrong: ",
  },
};

const STORAGE_KEY = "hall.lang";

export function currentLanguage() {
  const fromUrl = new URLSearchParams(location.search).get("lang");
  const chosen = fromUrl || localStorage.getItem(STORAGE_KEY) || document.documentElement.lang || "zh-CN";
  return chosen in messages ? chosen : "zh-CN";
}

let language = currentLanguage();

export function t(key) {
  return messages[language][key] ?? messages["zh-CN"][key] ?? key;
}

export function applyTranslations(root = document) {
  document.documentElement.lang = language;
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of element.dataset.i18nAttr.split(",")) {
      const [attribute, key] = pair.split(":");
      element.setAttribute(attribute.trim(), t(key.trim()));
    }
  }
}

export function setLanguage(next) {
  language = next in messages ? next : "zh-CN";
  localStorage.setItem(STORAGE_KEY, language);
  applyTranslations();
  document.dispatchEvent(new CustomEvent("languagechange"));
}

export function installLanguageSwitch(button) {
  button.addEventListener("click", () => setLanguage(language === "zh-CN" ? "en" : "zh-CN"));
}

export function errorText(code, message) {
  const key = `error.${code}`;
  const known = t(key);
  return known === key ? t("error.generic") + (message || code) : known;
}
