// SPDX-License-Identifier: MIT
/*
 * ukey-tray: the desktop face of ukeyd. An icon in the panel (Ayatana
 * AppIndicator over StatusNotifierItem, or a classic XEmbed tray icon where
 * no StatusNotifier host runs) whose picture says whether the helper runs,
 * whether a USB-KEY is in, and whether a certificate is expiring or has
 * expired; a menu to open the service hall, check the environment, see
 * the certificates' dates and start or stop the helper; and a desktop
 * notification when a certificate can be renewed (remind.h decides when).
 *
 * Everything runs on the GTK main loop and nothing blocks it: the daemon
 * is reached over its Unix socket (client.h) and, when it is not there,
 * the tray waits for its socket to appear (a file monitor on the runtime
 * directory) with a slow retry timer as a backstop. See docs/tray.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <gtk/gtk.h>
#include <libayatana-appindicator/app-indicator.h>
#include <libnotify/notify.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "helper.h"
#include "journal.h"
#include "model.h"
#include "platform/platform.h"
#include "remind.h"
#include "text.h"
#include "uk/log.h"

#define UKT_VERSION "0.1.0"
#define UKT_ID "ukey-tray"
#define RETRY_FIRST_S 1
#define RETRY_MAX_S 30
#define REEVAL_MAX_S (6 * 3600)
#define STATE_RECORD "tray" /* $XDG_STATE_HOME/ukeyd/tray.json */
#define RESPONSE_RECHECK 1

struct app {
    ukt_lang lang;
    ukd_config cfg;
    char runtime_dir[4096];
    char sock_path[4200];
    char state_dir[4096];
    bool state_dir_ok;
    char *icon_dir; /* --icon-dir (absolute), or NULL: icons from the theme */

    ukt_client *client;
    ukt_input *in;    /* what the daemon said; in->reachable after system.hello */
    unsigned session; /* one per connection: answers of an older one are ignored */
    int backoff_s;    /* the next retry's delay while the daemon is away */
    guint retry_id;   /* retry timer, only while the daemon is away */
    guint reeval_id;  /* the next date boundary (or a few hours), only while connected */
    guint reconnect_id;
    GFileMonitor *monitor;

    AppIndicator *indicator;
    GtkStatusIcon *status_icon; /* the XEmbed fallback while it is in use */
    GtkWidget *item_status;
    GtkWidget *item_start;
    GtkWidget *item_stop;
    char title[512];
    char status[512];
    bool shown;
    ukt_state shown_state;

    ukt_remind_state remind;
    char last_why[160];
    NotifyNotification *note;

    GtkWidget *env_dialog;
    GtkWidget *env_label;
    GtkWidget *certs_dialog;
    GtkWidget *certs_label;
};

static struct app app;

static void connect_now(void);
static void daemon_away(void);
static void refresh(void);

static int64_t now_s(void)
{
    return (int64_t)(g_get_real_time() / G_USEC_PER_SEC);
}

/* ---- the fallback icon's tooltip ---------------------------------------- */

/*
 * AppIndicator draws a GtkStatusIcon (XEmbed) when no StatusNotifier host
 * runs, but gives it no tooltip. A subclass catches the fallback icon to
 * set the tooltip to the title and to log when a tray embeds it.
 */
typedef struct UktIndicator {
    AppIndicator parent;
} UktIndicator;

typedef struct UktIndicatorClass {
    AppIndicatorClass parent_class;
} UktIndicatorClass;

GType ukt_indicator_get_type(void);
G_DEFINE_TYPE(UktIndicator, ukt_indicator, APP_INDICATOR_TYPE)

G_GNUC_BEGIN_IGNORE_DEPRECATIONS /* GtkStatusIcon is the XEmbed tray icon */

    static void
    on_embedded(GObject *icon, GParamSpec *pspec, gpointer data)
{
    (void)pspec;
    (void)data;
    uk_info("tray icon %s a system tray (XEmbed)",
            gtk_status_icon_is_embedded(GTK_STATUS_ICON(icon)) ? "embedded in" : "left");
}

static GtkStatusIcon *ukt_indicator_fallback(AppIndicator *self)
{
    GtkStatusIcon *icon = APP_INDICATOR_CLASS(ukt_indicator_parent_class)->fallback(self);

    if (icon != NULL) {
        uk_info("no StatusNotifier host: using a classic tray icon");
        app.status_icon = icon;
        gtk_status_icon_set_tooltip_text(icon, app.title);
        g_signal_connect(icon, "notify::embedded", G_CALLBACK(on_embedded), NULL);
    }
    return icon;
}

static void ukt_indicator_unfallback(AppIndicator *self, GtkStatusIcon *icon)
{
    if (app.status_icon == icon) {
        app.status_icon = NULL;
    }
    APP_INDICATOR_CLASS(ukt_indicator_parent_class)->unfallback(self, icon);
}

static void set_fallback_tooltip(void)
{
    if (app.status_icon != NULL) {
        gtk_status_icon_set_tooltip_text(app.status_icon, app.title);
    }
}

G_GNUC_END_IGNORE_DEPRECATIONS

static void ukt_indicator_class_init(UktIndicatorClass *klass)
{
    AppIndicatorClass *ai = APP_INDICATOR_CLASS(klass);

    ai->fallback = ukt_indicator_fallback;
    ai->unfallback = ukt_indicator_unfallback;
}

static void ukt_indicator_init(UktIndicator *self)
{
    (void)self;
}

static void on_connection_changed(AppIndicator *ind, gboolean connected, gpointer data)
{
    (void)ind;
    (void)data;
    uk_info("StatusNotifier host %s", connected ? "connected" : "gone");
}

/* ---- the service hall ---------------------------------------------------- */

static void open_hall(void)
{
    GError *err = NULL;

    uk_info("opening the service hall: %s", app.cfg.hall_url);
    if (!g_app_info_launch_default_for_uri(app.cfg.hall_url, NULL, &err)) {
        uk_warn("cannot open %s: %s", app.cfg.hall_url, err->message);
        g_error_free(err);
    }
}

/* ---- dialogs ------------------------------------------------------------- */

static void on_dialog_response(GtkDialog *d, gint response, gpointer data);

static GtkWidget *text_dialog(const char *title, bool recheck, GtkWidget **label)
{
    GtkWidget *d = gtk_dialog_new();
    GtkWidget *area = gtk_dialog_get_content_area(GTK_DIALOG(d));

    gtk_window_set_title(GTK_WINDOW(d), title);
    gtk_window_set_default_size(GTK_WINDOW(d), 460, -1);
    if (recheck) {
        gtk_dialog_add_button(GTK_DIALOG(d), ukt_text(app.lang, UKT_MSG_RECHECK), RESPONSE_RECHECK);
    }
    gtk_dialog_add_button(GTK_DIALOG(d), ukt_text(app.lang, UKT_MSG_CLOSE), GTK_RESPONSE_CLOSE);
    *label = gtk_label_new("");
    gtk_label_set_xalign(GTK_LABEL(*label), 0.0f);
    gtk_label_set_line_wrap(GTK_LABEL(*label), TRUE);
    gtk_label_set_selectable(GTK_LABEL(*label), TRUE);
    gtk_widget_set_margin_start(*label, 16);
    gtk_widget_set_margin_end(*label, 16);
    gtk_widget_set_margin_top(*label, 12);
    gtk_widget_set_margin_bottom(*label, 12);
    gtk_container_add(GTK_CONTAINER(area), *label);
    g_signal_connect(d, "response", G_CALLBACK(on_dialog_response), NULL);
    g_signal_connect(d, "delete-event", G_CALLBACK(gtk_widget_hide_on_delete), NULL);
    gtk_widget_show_all(area);
    return d;
}

static void env_reply(const cJSON *result, const cJSON *error, void *ctx)
{
    char text[8192];

    (void)ctx;
    (void)error;
    ukt_env_report(app.lang, result, text, sizeof(text));
    if (app.env_label != NULL) {
        gtk_label_set_text(GTK_LABEL(app.env_label), text);
    }
    uk_info("environment check shown (%s)", result != NULL ? "daemon answered" : "no daemon");
}

static void run_env_check(void)
{
    if (app.env_dialog == NULL) {
        app.env_dialog = text_dialog(ukt_text(app.lang, UKT_MSG_ENV_TITLE), true, &app.env_label);
    }
    gtk_label_set_text(GTK_LABEL(app.env_label),
                       app.lang == UKT_LANG_ZH ? "正在检测…" : "Checking…");
    gtk_window_present(GTK_WINDOW(app.env_dialog));
    if (!app.in->reachable ||
        ukt_client_call(app.client, "env.check", NULL, env_reply, NULL) != UK_OK) {
        env_reply(NULL, NULL, NULL);
    }
}

static void show_certs(void)
{
    char text[16384];

    if (app.certs_dialog == NULL) {
        app.certs_dialog =
            text_dialog(ukt_text(app.lang, UKT_MSG_CERTS_TITLE), false, &app.certs_label);
    }
    ukt_certs_report(app.lang, app.in, now_s(), text, sizeof(text));
    gtk_label_set_text(GTK_LABEL(app.certs_label), text);
    gtk_window_present(GTK_WINDOW(app.certs_dialog));
    uk_info("certificate expiry shown");
}

static void on_dialog_response(GtkDialog *d, gint response, gpointer data)
{
    (void)data;
    if (response == RESPONSE_RECHECK) {
        run_env_check();
        return;
    }
    gtk_widget_hide(GTK_WIDGET(d));
}

/* ---- notifications ------------------------------------------------------- */

static void on_note_action(NotifyNotification *n, char *action, gpointer data)
{
    (void)data;
    uk_info("notification action '%s'", action);
    open_hall();
    notify_notification_close(n, NULL);
}

static void on_note_closed(NotifyNotification *n, gpointer data)
{
    (void)data;
    if (app.note == n) {
        app.note = NULL;
    }
    g_object_unref(n);
}

static bool server_has_actions(void)
{
    GList *caps = notify_get_server_caps();
    bool yes = false;

    for (GList *l = caps; l != NULL; l = l->next) {
        yes = yes || g_strcmp0(l->data, "actions") == 0;
    }
    g_list_free_full(caps, g_free);
    return yes;
}

/* A notification is a synchronous D-Bus call to the local notification
 * server (libnotify has no other): at most one a day. */
static bool show_notice(const ukt_cert *const *due, size_t n)
{
    char summary[256];
    char body[1024];
    char icon[4200];
    NotifyNotification *note;
    GError *err = NULL;
    int64_t now = now_s();
    const char *state = ukt_cert_status_at(due[0], now) == UK_CERT_EXPIRED ? "expired" : "expiring";

    ukt_notice(app.lang, due, n, now, summary, sizeof(summary), body, sizeof(body));
    if (app.icon_dir != NULL) {
        snprintf(icon, sizeof(icon), "%s/ukey-tray-%s.svg", app.icon_dir, state);
    } else {
        snprintf(icon, sizeof(icon), "ukey-tray-%s", state);
    }
    note = notify_notification_new(summary, body, icon);
    notify_notification_set_app_name(note, ukt_text(app.lang, UKT_MSG_APP_NAME));
    notify_notification_set_urgency(note, NOTIFY_URGENCY_NORMAL);
    notify_notification_set_hint_string(note, "desktop-entry", UKT_ID);
    if (server_has_actions()) {
        /* "default" is a click on the notification itself */
        notify_notification_add_action(note, "default", ukt_text(app.lang, UKT_MSG_OPEN_HALL),
                                       on_note_action, NULL, NULL);
        notify_notification_add_action(note, "open-hall", ukt_text(app.lang, UKT_MSG_OPEN_HALL),
                                       on_note_action, NULL, NULL);
    }
    g_signal_connect(note, "closed", G_CALLBACK(on_note_closed), NULL);
    if (!notify_notification_show(note, &err)) {
        uk_warn("cannot show a notification: %s", err->message);
        g_error_free(err);
        g_object_unref(note);
        return false;
    }
    if (app.note != NULL) {
        notify_notification_close(app.note, NULL); /* its "closed" unrefs it */
    }
    app.note = note;
    uk_info("notification shown: %s — %s", summary, body);
    return true;
}

static void save_remind(void)
{
    cJSON *j = ukt_remind_to_json(&app.remind);

    if (j != NULL && app.state_dir_ok && uk_journal_put(app.state_dir, STATE_RECORD, j) == UK_OK) {
        uk_debug("reminder dates saved");
    }
    cJSON_Delete(j);
}

static void load_remind(void)
{
    cJSON *j = NULL;
    uk_rc rc;

    ukt_remind_init(&app.remind);
    if (!app.state_dir_ok) {
        return;
    }
    rc = uk_journal_get(app.state_dir, STATE_RECORD, &j);
    if (rc == UK_OK) {
        ukt_remind_from_json(j, &app.remind);
    } else if (rc != UK_E_NOT_FOUND) {
        uk_warn("%s/%s.json is unreadable (%s); starting afresh", app.state_dir, STATE_RECORD,
                uk_rc_name(rc));
    }
    cJSON_Delete(j);
}

static void check_reminders(int64_t now)
{
    const ukt_cert *due[UKT_MAX_TOKENS * UKT_MAX_CERTS];
    const char *why = NULL;
    size_t n;

    if (!app.in->reachable) {
        return;
    }
    for (size_t t = 0; t < app.in->n_tokens; t++) {
        if (!app.in->tokens[t].certs_known) {
            return; /* decide on the whole picture */
        }
    }
    n = ukt_remind_decide(app.in, now, ukt_local_day(now), &app.remind, due, G_N_ELEMENTS(due),
                          &why);
    if (n == 0) {
        if (strcmp(app.last_why, why) != 0) {
            uk_info("no notification: %s", why);
            snprintf(app.last_why, sizeof(app.last_why), "%s", why);
        }
        return;
    }
    app.last_why[0] = '\0';
    if (show_notice(due, n)) {
        ukt_remind_mark(&app.remind, due, n, ukt_local_day(now));
        save_remind();
    }
}

/* ---- the icon ------------------------------------------------------------ */

static void apply_view(const ukt_view *v, int64_t now)
{
    char icon[64];
    char status[512];
    char title[512];
    bool attention = v->state == UKT_STATE_EXPIRING || v->state == UKT_STATE_EXPIRED;

    ukt_status_line(app.lang, v, now, status, sizeof(status));
    ukt_title(app.lang, v, now, title, sizeof(title));
    if (app.shown && app.shown_state == v->state && strcmp(title, app.title) == 0) {
        return;
    }
    snprintf(icon, sizeof(icon), "ukey-tray-%s", ukt_state_name(v->state));
    snprintf(app.title, sizeof(app.title), "%s", title);
    snprintf(app.status, sizeof(app.status), "%s", status);
    app.shown = true;
    app.shown_state = v->state;
    app_indicator_set_icon_full(app.indicator, icon, status);
    if (attention) {
        app_indicator_set_attention_icon_full(app.indicator, icon, status);
    }
    app_indicator_set_status(app.indicator, attention ? APP_INDICATOR_STATUS_ATTENTION
                                                      : APP_INDICATOR_STATUS_ACTIVE);
    app_indicator_set_title(app.indicator, title);
    set_fallback_tooltip();
    gtk_menu_item_set_label(GTK_MENU_ITEM(app.item_status), status);
    gtk_widget_set_sensitive(app.item_start, v->state == UKT_STATE_STOPPED);
    gtk_widget_set_sensitive(app.item_stop, v->state != UKT_STATE_STOPPED);
    uk_info("state: %s (%s)", ukt_state_name(v->state), title);
}

static gboolean on_reeval(gpointer data)
{
    (void)data;
    app.reeval_id = 0;
    refresh();
    return G_SOURCE_REMOVE;
}

/* Recomputes the state from what the daemon said and the clock, shows it,
 * and arms one timer for the next date that changes it (a window opening,
 * an expiry) or a few hours, so weekly reminders and midnight come round
 * without a daemon event. */
static void refresh(void)
{
    int64_t now = now_s();
    ukt_view v;
    int64_t wait = REEVAL_MAX_S;

    ukt_view_compute(app.in, now, &v);
    apply_view(&v, now);
    check_reminders(now);
    if (app.reeval_id != 0) {
        g_source_remove(app.reeval_id);
        app.reeval_id = 0;
    }
    if (!app.in->reachable) {
        return;
    }
    if (v.next_change != 0 && v.next_change - now < wait) {
        wait = v.next_change - now > 0 ? v.next_change - now : 1;
    }
    app.reeval_id = g_timeout_add_seconds((guint)wait, on_reeval, NULL);
}

/* ---- the daemon ---------------------------------------------------------- */

struct certs_call {
    unsigned session;
    char token_id[UKT_ID_MAX];
};

static void certs_reply(const cJSON *result, const cJSON *error, void *ctx)
{
    struct certs_call *cc = ctx;
    ukt_token *tok = ukt_input_token(app.in, cc->token_id);
    size_t dropped = 0;

    if (cc->session == app.session && tok != NULL && result != NULL) {
        if (ukt_certs_parse(result, tok, &dropped) != UK_OK) {
            uk_warn("cert.list for %s: unexpected answer", cc->token_id);
        } else if (dropped > 0) {
            uk_warn("cert.list for %s: %zu certificate(s) ignored", cc->token_id, dropped);
        }
        uk_debug("%s: %zu certificate(s)", cc->token_id, tok->n_certs);
        refresh();
    } else if (error != NULL) {
        uk_debug("cert.list for %s failed (key removed?)", cc->token_id);
    }
    g_free(cc);
}

static void request_certs(const char *token_id)
{
    struct certs_call *cc = g_new0(struct certs_call, 1);
    cJSON *params = cJSON_CreateObject();

    cc->session = app.session;
    snprintf(cc->token_id, sizeof(cc->token_id), "%s", token_id);
    cJSON_AddStringToObject(params, "tokenId", token_id);
    if (ukt_client_call(app.client, "cert.list", params, certs_reply, cc) != UK_OK) {
        g_free(cc);
    }
}

static void tokens_reply(const cJSON *result, const cJSON *error, void *ctx)
{
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(result, "tokens");
    const cJSON *t;
    ukt_input *next;

    (void)error;
    if (GPOINTER_TO_UINT(ctx) != app.session || !cJSON_IsArray(tokens)) {
        return;
    }
    /* keep what is known of keys still present: no flicker on a reconnect */
    next = g_new0(ukt_input, 1);
    next->reachable = app.in->reachable;
    cJSON_ArrayForEach(t, tokens)
    {
        ukt_token *tok = g_new(ukt_token, 1);
        if (ukt_token_parse(t, tok) == UK_OK) {
            const ukt_token *old = ukt_input_token(app.in, tok->id);
            if (ukt_input_put_token(next, old != NULL ? old : tok) != UK_OK) {
                uk_warn("more than %d keys inserted; ignoring %s", UKT_MAX_TOKENS, tok->id);
            }
        }
        g_free(tok);
    }
    g_free(app.in);
    app.in = next;
    for (size_t i = 0; i < app.in->n_tokens; i++) {
        request_certs(app.in->tokens[i].id);
    }
    refresh();
}

static void hello_reply(const cJSON *result, const cJSON *error, void *ctx)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(result, "version");

    (void)error;
    if (GPOINTER_TO_UINT(ctx) != app.session) {
        return;
    }
    if (result == NULL) {
        /* closed (on_closed follows) or no answer in time: a hung daemon is away */
        if (ukt_client_connected(app.client)) {
            uk_warn("ukeyd did not answer system.hello");
            ukt_client_disconnect(app.client);
            daemon_away();
        }
        return;
    }
    /* a reconnect after an idle close is routine: not worth a line in the journal */
    uk_log(app.in->reachable ? UK_LOG_DEBUG : UK_LOG_INFO, "%s ukeyd %s",
           app.in->reachable ? "reconnected to" : "connected to",
           cJSON_IsString(version) ? version->valuestring : "?");
    app.backoff_s = RETRY_FIRST_S;
    app.in->reachable = true;
    if (ukt_client_call(app.client, "token.list", NULL, tokens_reply,
                        GUINT_TO_POINTER(app.session)) != UK_OK) {
        return;
    }
    refresh();
}

static void on_event(const char *method, const cJSON *params, void *ctx)
{
    ukt_token *tok;

    (void)ctx;
    if (strcmp(method, "token.inserted") == 0) {
        tok = g_new(ukt_token, 1);
        if (ukt_token_parse(params, tok) == UK_OK) {
            uk_info("key inserted: %s", tok->id);
            if (ukt_input_put_token(app.in, tok) == UK_OK) {
                request_certs(tok->id);
            }
            refresh();
        }
        g_free(tok);
    } else if (strcmp(method, "token.removed") == 0) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(params, "tokenId");
        if (cJSON_IsString(id) && ukt_input_remove_token(app.in, id->valuestring)) {
            uk_info("key removed: %s", id->valuestring);
            refresh();
        }
    }
}

static gboolean on_retry(gpointer data)
{
    (void)data;
    app.retry_id = 0;
    connect_now();
    return G_SOURCE_REMOVE;
}

static void daemon_away(void)
{
    if (app.in->reachable) {
        uk_info("ukeyd is not running");
    }
    app.in->reachable = false;
    app.in->n_tokens = 0;
    refresh();
    if (app.retry_id == 0) {
        app.retry_id = g_timeout_add_seconds((guint)app.backoff_s, on_retry, NULL);
        app.backoff_s = app.backoff_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : app.backoff_s * 2;
    }
}

/* Connects if not connected; the state stays as it was until the daemon
 * answers or the connection fails, so a reconnect does not flicker. */
static void connect_now(void)
{
    cJSON *params;
    uk_rc rc;

    if (ukt_client_connected(app.client)) {
        return;
    }
    rc = ukt_client_connect(app.client);
    if (rc != UK_OK) {
        uk_debug("ukeyd not reachable at %s (%s)", app.sock_path, uk_rc_name(rc));
        daemon_away();
        return;
    }
    if (app.retry_id != 0) {
        g_source_remove(app.retry_id);
        app.retry_id = 0;
    }
    app.session++;
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "client", UKT_ID " " UKT_VERSION);
    if (ukt_client_call(app.client, "system.hello", params, hello_reply,
                        GUINT_TO_POINTER(app.session)) != UK_OK) {
        daemon_away();
    }
}

static gboolean on_reconnect(gpointer data)
{
    (void)data;
    app.reconnect_id = 0;
    connect_now();
    return G_SOURCE_REMOVE;
}

/* The daemon closed the connection: it stopped, or it closed an idle
 * client (idleTimeoutSeconds applies to the Unix socket too). Try again at
 * once, outside the client's callback; only a failed connect is "away". */
static void on_closed(void *ctx)
{
    (void)ctx;
    app.session++;
    if (app.reconnect_id == 0) {
        app.reconnect_id = g_idle_add(on_reconnect, NULL);
    }
}

static void on_runtime_change(GFileMonitor *m, GFile *file, GFile *other, GFileMonitorEvent ev,
                              gpointer data)
{
    char *name = g_file_get_basename(file);

    (void)m;
    (void)other;
    (void)data;
    /* the socket, then the pid and port files, appear as ukeyd starts */
    if (ev != G_FILE_MONITOR_EVENT_DELETED && !ukt_client_connected(app.client) &&
        (strcmp(name, "ukeyd.sock") == 0 || strcmp(name, "pid") == 0 ||
         strcmp(name, "port") == 0)) {
        uk_debug("%s appeared: connecting", name);
        app.backoff_s = RETRY_FIRST_S;
        if (app.retry_id != 0) {
            g_source_remove(app.retry_id);
            app.retry_id = 0;
        }
        connect_now();
    }
    g_free(name);
}

/* ---- the menu ------------------------------------------------------------ */

static void helper_done(bool ok, void *ctx)
{
    (void)ctx;
    if (!ok) {
        uk_warn("%s", ukt_text(UKT_LANG_EN, UKT_MSG_START_FAILED));
    }
    app.backoff_s = RETRY_FIRST_S;
    connect_now();
}

static void on_menu(GtkMenuItem *item, gpointer data)
{
    const char *what = data;

    (void)item;
    uk_info("menu: %s", what);
    if (strcmp(what, "hall") == 0) {
        open_hall();
    } else if (strcmp(what, "env") == 0) {
        run_env_check();
    } else if (strcmp(what, "certs") == 0) {
        show_certs();
    } else if (strcmp(what, "start") == 0) {
        ukt_helper_start(app.runtime_dir, helper_done, NULL);
    } else if (strcmp(what, "stop") == 0) {
        ukt_helper_stop(app.runtime_dir, NULL, NULL);
    } else if (strcmp(what, "quit") == 0) {
        gtk_main_quit();
    }
}

static GtkWidget *menu_item(GtkWidget *menu, ukt_msg msg, const char *what)
{
    GtkWidget *item = gtk_menu_item_new_with_label(ukt_text(app.lang, msg));

    g_signal_connect(item, "activate", G_CALLBACK(on_menu), (gpointer)(uintptr_t)what);
    gtk_menu_shell_append(GTK_MENU_SHELL(menu), item);
    return item;
}

static void on_menu_shown(GtkWidget *menu, gpointer data)
{
    (void)menu;
    (void)data;
    uk_info("menu shown");
}

static GtkWidget *build_menu(void)
{
    GtkWidget *menu = gtk_menu_new();

    app.item_status = gtk_menu_item_new_with_label("");
    gtk_widget_set_sensitive(app.item_status, FALSE);
    gtk_menu_shell_append(GTK_MENU_SHELL(menu), app.item_status);
    gtk_menu_shell_append(GTK_MENU_SHELL(menu), gtk_separator_menu_item_new());
    menu_item(menu, UKT_MSG_OPEN_HALL, "hall");
    menu_item(menu, UKT_MSG_ENV_CHECK, "env");
    menu_item(menu, UKT_MSG_CERT_EXPIRY, "certs");
    gtk_menu_shell_append(GTK_MENU_SHELL(menu), gtk_separator_menu_item_new());
    app.item_start = menu_item(menu, UKT_MSG_START, "start");
    app.item_stop = menu_item(menu, UKT_MSG_STOP, "stop");
    gtk_menu_shell_append(GTK_MENU_SHELL(menu), gtk_separator_menu_item_new());
    menu_item(menu, UKT_MSG_QUIT, "quit");
    gtk_widget_show_all(menu);
    /* a classic tray pops this menu up itself; say so, for tests and bug reports */
    g_signal_connect(menu, "show", G_CALLBACK(on_menu_shown), NULL);
    return menu;
}

/* ---- start-up ------------------------------------------------------------ */

static gboolean on_signal(gpointer data)
{
    (void)data;
    uk_info("stopping");
    gtk_main_quit();
    return G_SOURCE_CONTINUE;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: ukey-tray [options]\n"
               "The USB-KEY helper's tray icon: shows whether ukeyd runs, whether a key is\n"
               "inserted and whether a certificate needs renewal.\n"
               "\n"
               "  --icon-dir DIR    load the status icons from DIR (default: the icon theme)\n"
               "  --log-level L     error, warn, info, debug, trace (default info)\n"
               "  -h, --help        this text\n"
               "  --version         the version\n");
}

/* One tray per user session: a lock beside the daemon's. */
static int take_lock(void)
{
    char path[4300];
    int fd;

    snprintf(path, sizeof(path), "%s/tray.lock", app.runtime_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        uk_err("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return -2;
    }
    return fd;
}

static bool parse_args(int argc, char **argv, int *status)
{
    enum { O_ICON_DIR = 256, O_LOG, O_VERSION };
    static const struct option longopts[] = {
        {"icon-dir", required_argument, NULL, O_ICON_DIR},
        {"log-level", required_argument, NULL, O_LOG},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    int c;
    int level;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_ICON_DIR:
            /* absolute: the status notifier host resolves it, not us */
            g_free(app.icon_dir);
            app.icon_dir = g_canonicalize_filename(optarg, NULL);
            break;
        case O_LOG:
            level = uk_log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr, "ukey-tray: unknown log level '%s'\n", optarg);
                *status = 2;
                return false;
            }
            uk_log_set_level((uk_log_level)level);
            break;
        case 'h':
            usage(stdout);
            *status = 0;
            return false;
        case O_VERSION:
            puts("ukey-tray " UKT_VERSION);
            *status = 0;
            return false;
        default:
            usage(stderr);
            *status = 2;
            return false;
        }
    }
    if (optind != argc) {
        usage(stderr);
        *status = 2;
        return false;
    }
    return true;
}

static void load_config(void)
{
    char *err = NULL;

    ukd_config_defaults(&app.cfg);
    if (ukd_config_load_default(&app.cfg, &err) != UK_OK) {
        /* the daemon refuses such a file; the tray still shows its state */
        uk_warn("configuration error (%s); using the defaults", err ? err : "?");
        free(err);
        ukd_config_free(&app.cfg);
        ukd_config_defaults(&app.cfg);
    }
    if (strcmp(app.cfg.hall_url, UKD_DEFAULT_HALL_URL) == 0) {
        uk_warn("hallUrl is not configured; the menu opens the placeholder %s",
                UKD_DEFAULT_HALL_URL);
    }
}

int main(int argc, char **argv)
{
    GFile *dir = NULL;
    GtkWidget *menu;
    int lock_fd = -1;
    int status = 0;

    uk_log_set_ident(UKT_ID);
    app.lang = ukt_lang_pick(g_getenv("LC_ALL"), g_getenv("LC_MESSAGES"), g_getenv("LANG"));
    if (!parse_args(argc, argv, &status)) {
        return status;
    }
    if (!gtk_init_check(&argc, &argv)) {
        fprintf(stderr, "ukey-tray: cannot open the display\n");
        return 1;
    }
    if (ukd_platform_runtime_dir(app.runtime_dir, sizeof(app.runtime_dir)) != UK_OK) {
        fprintf(stderr, "ukey-tray: XDG_RUNTIME_DIR is not set or unusable\n");
        return 1;
    }
    lock_fd = take_lock();
    if (lock_fd == -2) {
        fprintf(stderr, "ukey-tray: already running for this user\n");
        return 0;
    }
    snprintf(app.sock_path, sizeof(app.sock_path), "%s/ukeyd.sock", app.runtime_dir);
    app.state_dir_ok = ukd_platform_state_dir(app.state_dir, sizeof(app.state_dir)) == UK_OK;
    load_config();
    load_remind();
    app.in = g_new0(ukt_input, 1);
    app.backoff_s = RETRY_FIRST_S;
    app.client = ukt_client_new(app.sock_path, on_event, on_closed, NULL);
    if (!notify_init(UKT_ID)) {
        uk_warn("libnotify did not initialise: no notifications");
    }

    app.indicator = g_object_new(ukt_indicator_get_type(), "id", UKT_ID, "category",
                                 "ApplicationStatus", "icon-name", "ukey-tray-stopped", NULL);
    if (app.icon_dir != NULL) {
        /*
         * The icon directory goes into GTK's search path before AppIndicator
         * sees it: libayatana-appindicator 0.5.92's fallback searches that
         * path with "i < n || path[i] == NULL" and reads past the end of
         * the array when the directory is not in it yet (found by ASan).
         */
        gtk_icon_theme_append_search_path(gtk_icon_theme_get_default(), app.icon_dir);
        app_indicator_set_icon_theme_path(app.indicator, app.icon_dir);
    }
    g_signal_connect(app.indicator, "connection-changed", G_CALLBACK(on_connection_changed), NULL);
    menu = build_menu();
    app_indicator_set_menu(app.indicator, GTK_MENU(menu));
    refresh(); /* "stopped" until the daemon answers */

    dir = g_file_new_for_path(app.runtime_dir);
    app.monitor = g_file_monitor_directory(dir, G_FILE_MONITOR_NONE, NULL, NULL);
    g_object_unref(dir);
    if (app.monitor != NULL) {
        g_signal_connect(app.monitor, "changed", G_CALLBACK(on_runtime_change), NULL);
    }
    g_unix_signal_add(SIGTERM, on_signal, NULL);
    g_unix_signal_add(SIGINT, on_signal, NULL);
    uk_info("ukey-tray %s: watching %s", UKT_VERSION, app.sock_path);
    connect_now();

    gtk_main();

    app.session++; /* answers failed by the close below are stale */
    ukt_client_free(app.client);
    app.client = NULL;
    if (app.note != NULL) {
        g_object_unref(app.note);
    }
    if (app.monitor != NULL) {
        g_object_unref(app.monitor);
    }
    if (app.env_dialog != NULL) {
        gtk_widget_destroy(app.env_dialog);
    }
    if (app.certs_dialog != NULL) {
        gtk_widget_destroy(app.certs_dialog);
    }
    g_object_unref(app.indicator);
    notify_uninit();
    ukd_config_free(&app.cfg);
    g_free(app.in);
    g_free(app.icon_dir);
    close(lock_fd);
    return 0;
}
