"""The words of the pages around the report (sign-in, navigation, feedback, errors), Chinese first.

The report's own words are in ``reports.labels``; these are what only a served page says.
"""

from __future__ import annotations

PAGE_TEXT = {
    "zh": {
        "site": "智慧党建 · 支部诊疗",
        "login_title": "登录", "login_intro": "请输入管理员发放给您的访问令牌。从智慧党建平台点击链接进入的，无需输入令牌。",
        "token": "访问令牌", "sign_in": "登录", "bad_token": "令牌无效或已停用，请核对后重试，或联系管理员。",
        "expired": "登录已超时，请重新登录。", "logged_out": "您已退出登录。",
        "ticket_bad": "登录链接无效、已使用或已过期（链接 5 分钟内有效，只能使用一次）。请回到智慧党建平台重新打开，"
                      "或用访问令牌登录。",
        "ticket_title": "进入支部诊疗报告", "ticket_intro": "您将以“{user}”的身份进入{branch}的诊疗报告。",
        "ticket_go": "进入", "ticket_note": "此链接只能使用一次，5 分钟内有效。",
        "home": "首页", "prev": "上个月", "next": "下个月", "month": "月份", "go": "查看", "other_lang": "English",
        "print": "打印", "logout": "退出登录", "user": "当前用户：{name}",
        "adopt": "采纳", "decline": "不采纳", "complete": "已完成", "done_on": "完成日期",
        "st_adopted": "已采纳（{date}）", "st_declined": "不采纳（{date}）", "st_completed": "已完成（{date}）",
        "st_none": "尚未反馈", "status": "状态：",
        "saved": "已记录：「{title}」{status}。", "bad_day": "完成日期应在 {first} 至 {today} 之间，请重新选择。",
        "index_title": "打开支部报告", "index_intro": "输入支部编号并选择月份。", "branch_id": "支部编号",
        "no_months": "还没有任何月份的诊断结果。",
        "what_next": "您可以：", "request_id": "请求编号：{id}（联系管理员时请提供）", "details": "技术信息",
        "e400": "请求无效", "e400_text": "页面已过期或表单不完整。请返回上一页，刷新后重试。",
        "e403": "无权查看", "e403_text": "您的账号无权查看此页面。支部书记只能查看本支部的报告。",
        "e404": "未找到", "e404_text": "没有找到您要的页面。请检查链接，或从首页进入。",
        "e405": "操作无效", "e405_text": "这个页面不支持该操作。请从首页进入。",
        "e413": "内容过大", "e413_text": "提交的内容过大。",
        "e422": "输入有误", "e422_text": "提交的内容有误，请修改后重试。",
        "e500": "服务出错", "e500_text": "服务遇到意外错误，已记入日志。请稍后再试；如果问题持续，请联系管理员。",
        "e503": "暂时无法访问", "e503_text": "服务暂时无法连接数据库，请稍后刷新页面。",
        "no_diagnosis": "{branch} 在 {period} 还没有诊断结果。", "no_branch_diagnosis": "本支部还没有任何月份的诊断结果。",
        "months_available": "有诊断结果的月份：", "bad_period": "月份“{value}”的格式不对，应为“年-月”，例如 2025-12。",
        "own_report": "打开本支部的报告", "to_login": "重新登录", "to_home": "返回首页",
        "not_in_list": "这项资源不在本月的药方中，请刷新页面后再试。",
        "overview": "概览", "open_overview": "查看全区概览（红黄灯走势、各街道对比、月度通报下载）",
        "from": "起", "to": "止", "street": "街道（镇）", "all_streets": "全区", "branch_type": "类型",
        "all_types": "全部类型", "download": "下载 {period} 月度通报（Excel）",
        "bad_type": "没有“{value}”这种支部类型，请从列表中选择。",
        "bad_range": "起始月份 {start} 晚于结束月份 {end}，请重新选择。", "long_range": "一次最多查看 {n} 个月。",
        "branches_of": "{period} 支部一览（共 {n} 个，红灯在前）", "branch_name": "支部名称", "lamp": "亮灯",
        "members": "党员数", "mean_ytd": "年度锋领指数（人均）", "lamp_red": "红灯", "lamp_yellow": "黄灯",
        "lamp_green": "绿灯", "prev_page": "上一页", "next_page": "下一页", "page_of": "第 {k} 页，共 {n} 页",
    },
    "en": {
        "site": "Smart Party building · branch diagnosis",
        "login_title": "Sign in", "login_intro": "Enter the access token the administrator gave you. Coming from "
                                                 "the Party-building platform by its link, you need no token.",
        "token": "Access token", "sign_in": "Sign in",
        "bad_token": "The token is not valid or has been revoked: check it and try again, or ask the administrator.",
        "expired": "Your session has ended: please sign in again.", "logged_out": "You have signed out.",
        "ticket_bad": "This sign-in link is not valid, was used already or has expired (a link works once, within "
                      "5 minutes). Open it again from the Party-building platform, or sign in with your token.",
        "ticket_title": "Open the branch's report", "ticket_intro": "You will open the report of {branch} as “{user}”.",
        "ticket_go": "Continue", "ticket_note": "This link works once, within 5 minutes.",
        "home": "Home", "prev": "Previous month", "next": "Next month", "month": "Month", "go": "Show",
        "other_lang": "中文", "print": "Print", "logout": "Sign out", "user": "Signed in as {name}",
        "adopt": "Adopt", "decline": "Decline", "complete": "Done", "done_on": "Done on",
        "st_adopted": "adopted ({date})", "st_declined": "declined ({date})", "st_completed": "done ({date})",
        "st_none": "no feedback yet", "status": "Status: ",
        "saved": "Recorded: “{title}” {status}.", "bad_day": "The day it was done must be from {first} to {today}.",
        "index_title": "Open a branch's report", "index_intro": "Enter the branch id and choose a month.",
        "branch_id": "Branch id", "no_months": "No month has been diagnosed yet.",
        "what_next": "You can:", "request_id": "Request id: {id} (give it when you contact the administrator)",
        "details": "Technical details",
        "e400": "Bad request", "e400_text": "The page has expired or the form was incomplete. Go back, reload it "
                                            "and try again.",
        "e403": "Not allowed", "e403_text": "Your account may not see this page. A branch secretary sees only "
                                            "their own branch's report.",
        "e404": "Not found", "e404_text": "The page you asked for does not exist. Check the link, or start from "
                                          "the home page.",
        "e405": "Not possible", "e405_text": "This page does not do that. Start from the home page.",
        "e413": "Too large", "e413_text": "What was sent is too large.",
        "e422": "Not valid", "e422_text": "What was sent is not valid: correct it and try again.",
        "e500": "Service error", "e500_text": "The service met an unexpected error; it is in the log. Try again "
                                             "later, and if it persists, contact the administrator.",
        "e503": "Unavailable for now", "e503_text": "The service cannot reach its database just now: reload the "
                                                    "page in a moment.",
        "no_diagnosis": "{branch} has no diagnosis for {period} yet.",
        "no_branch_diagnosis": "This branch has no diagnosis for any month yet.",
        "months_available": "Months with a diagnosis:",
        "bad_period": "The month “{value}” is not written right: write it year-month, e.g. 2025-12.",
        "own_report": "Open your branch's report", "to_login": "Sign in again", "to_home": "Go to the home page",
        "not_in_list": "This resource is not among this month's prescriptions: reload the page and try again.",
        "overview": "Overview", "open_overview": "Open the district's overview (lamp trends, streets side by side, the "
                                                  "monthly circular)",
        "from": "From", "to": "To", "street": "Street", "all_streets": "the whole district", "branch_type": "Type",
        "all_types": "all types", "download": "Download the circular of {period} (Excel)",
        "bad_type": "There is no branch type “{value}”: choose one from the list.",
        "bad_range": "The first month {start} is after the last month {end}: choose again.",
        "long_range": "At most {n} months at a time.",
        "branches_of": "Branches in {period} ({n}, red first)", "branch_name": "Branch", "lamp": "Lamp",
        "members": "Members", "mean_ytd": "Mean points, year to date", "lamp_red": "red", "lamp_yellow": "yellow",
        "lamp_green": "green", "prev_page": "Previous page", "next_page": "Next page", "page_of": "Page {k} of {n}",
    },
}

__all__ = ["PAGE_TEXT"]
