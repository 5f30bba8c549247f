// SPDX-License-Identifier: MIT
/*
 * A minimal StatusNotifierWatcher for tests, so the tray's icon can be
 * checked without pixels. Two modes:
 *
 *   sni-watcher watch
 *       owns org.kde.StatusNotifierWatcher on the session bus (a host is
 *       always "registered"), and for every item that registers prints, on
 *       each change, one line of its properties and one snapshot of its
 *       menu (com.canonical.dbusmenu):
 *         ready
 *         item<TAB>BUS<TAB>PATH
 *         props<TAB>icon=..<TAB>attention=..<TAB>status=..<TAB>title=..<TAB>themepath=..<TAB>menu=..
 *         menu-begin
 *         menuitem<TAB>ID<TAB>ENABLED(0|1)<TAB>LABEL      (one per labelled item)
 *         menu-end
 *         item-gone<TAB>BUS
 *   sni-watcher click BUS MENUPATH LABEL
 *       sends a "clicked" event to the enabled menu item with that label;
 *       exit 0 when sent, 1 when there is no such enabled item, 2 on a bus
 *       error.
 */
#define _GNU_SOURCE
#include <gio/gio.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char watcher_xml[] =
    "<node><interface name='org.kde.StatusNotifierWatcher'>"
    "<method name='RegisterStatusNotifierItem'><arg type='s' direction='in'/></method>"
    "<method name='RegisterStatusNotifierHost'><arg type='s' direction='in'/></method>"
    "<property name='RegisteredStatusNotifierItems' type='as' access='read'/>"
    "<property name='IsStatusNotifierHostRegistered' type='b' access='read'/>"
    "<property name='ProtocolVersion' type='i' access='read'/>"
    "<signal name='StatusNotifierItemRegistered'><arg type='s'/></signal>"
    "<signal name='StatusNotifierItemUnregistered'><arg type='s'/></signal>"
    "<signal name='StatusNotifierHostRegistered'/>"
    "</interface></node>";

struct item {
    GDBusConnection *conn;
    char *bus;
    char *path;
    char *menu;
    guint sub_item;
    guint sub_menu;
    guint watch;
};

static GPtrArray *items;
static GMainLoop *loop;

static void out(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void out(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static const char *prop_str(GVariant *dict, const char *key, char **hold)
{
    GVariant *v = g_variant_lookup_value(dict, key, NULL);

    g_free(*hold);
    *hold = NULL;
    if (v != NULL && (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING) ||
                      g_variant_is_of_type(v, G_VARIANT_TYPE_OBJECT_PATH))) {
        *hold = g_variant_dup_string(v, NULL);
    }
    if (v != NULL) {
        g_variant_unref(v);
    }
    return *hold != NULL ? *hold : "";
}

/* Prints every labelled item of a dbusmenu layout node (ia{sv}av). */
static void print_node(GVariant *node)
{
    gint32 id = 0;
    GVariant *props = NULL;
    GVariant *children = NULL;
    const char *label = NULL;
    gboolean enabled = TRUE;
    GVariantIter it;
    GVariant *child;

    g_variant_get(node, "(i@a{sv}@av)", &id, &props, &children);
    if (g_variant_lookup(props, "label", "&s", &label)) {
        g_variant_lookup(props, "enabled", "b", &enabled);
        out("menuitem\t%d\t%d\t%s\n", id, enabled ? 1 : 0, label);
    }
    g_variant_iter_init(&it, children);
    while ((child = g_variant_iter_next_value(&it)) != NULL) {
        GVariant *inner = g_variant_get_variant(child);
        print_node(inner);
        g_variant_unref(inner);
        g_variant_unref(child);
    }
    g_variant_unref(props);
    g_variant_unref(children);
}

static GVariant *layout_params(void)
{
    return g_variant_new("(ii@as)", 0, -1, g_variant_new_strv(NULL, 0));
}

static void layout_done(GObject *src, GAsyncResult *res, gpointer data)
{
    GError *err = NULL;
    GVariant *r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &err);
    guint32 revision = 0;
    GVariant *root = NULL;

    (void)data;
    if (r == NULL) {
        out("error\tGetLayout: %s\n", err->message);
        g_error_free(err);
        return;
    }
    g_variant_get(r, "(u@(ia{sv}av))", &revision, &root);
    out("menu-begin\t%u\n", revision);
    print_node(root);
    out("menu-end\n");
    g_variant_unref(root);
    g_variant_unref(r);
}

static void fetch_layout(struct item *it)
{
    g_dbus_connection_call(it->conn, it->bus, it->menu, "com.canonical.dbusmenu", "GetLayout",
                           layout_params(), G_VARIANT_TYPE("(u(ia{sv}av))"), G_DBUS_CALL_FLAGS_NONE,
                           10000, NULL, layout_done, it);
}

static void on_menu_signal(GDBusConnection *c, const char *sender, const char *path,
                           const char *iface, const char *signal, GVariant *params, gpointer data)
{
    (void)c;
    (void)sender;
    (void)path;
    (void)iface;
    (void)signal;
    (void)params;
    fetch_layout(data);
}

static void props_done(GObject *src, GAsyncResult *res, gpointer data)
{
    struct item *it = data;
    GError *err = NULL;
    GVariant *r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &err);
    GVariant *dict;
    char *h[6] = {NULL};
    const char *menu;

    if (r == NULL) {
        out("error\tGetAll: %s\n", err->message);
        g_error_free(err);
        return;
    }
    dict = g_variant_get_child_value(r, 0);
    menu = prop_str(dict, "Menu", &h[5]);
    out("props\ticon=%s\tattention=%s\tstatus=%s\ttitle=%s\tthemepath=%s\tmenu=%s\n",
        prop_str(dict, "IconName", &h[0]), prop_str(dict, "AttentionIconName", &h[1]),
        prop_str(dict, "Status", &h[2]), prop_str(dict, "Title", &h[3]),
        prop_str(dict, "IconThemePath", &h[4]), menu);
    if (menu[0] == '/' && it->menu == NULL) {
        it->menu = g_strdup(menu);
        it->sub_menu = g_dbus_connection_signal_subscribe(
            it->conn, it->bus, "com.canonical.dbusmenu", NULL, it->menu, NULL,
            G_DBUS_SIGNAL_FLAGS_NONE, on_menu_signal, it, NULL);
        fetch_layout(it);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(h); i++) {
        g_free(h[i]);
    }
    g_variant_unref(dict);
    g_variant_unref(r);
}

static void fetch_props(struct item *it)
{
    g_dbus_connection_call(it->conn, it->bus, it->path, "org.freedesktop.DBus.Properties", "GetAll",
                           g_variant_new("(s)", "org.kde.StatusNotifierItem"),
                           G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, 10000, NULL,
                           props_done, it);
}

static void on_item_signal(GDBusConnection *c, const char *sender, const char *path,
                           const char *iface, const char *signal, GVariant *params, gpointer data)
{
    (void)c;
    (void)sender;
    (void)path;
    (void)iface;
    (void)signal;
    (void)params;
    fetch_props(data);
}

static void on_item_vanished(GDBusConnection *c, const char *name, gpointer data)
{
    struct item *it = data;

    out("item-gone\t%s\n", name);
    g_dbus_connection_signal_unsubscribe(c, it->sub_item);
    if (it->sub_menu != 0) {
        g_dbus_connection_signal_unsubscribe(c, it->sub_menu);
    }
    g_bus_unwatch_name(it->watch);
    g_ptr_array_remove(items, it);
    g_free(it->bus);
    g_free(it->path);
    g_free(it->menu);
    g_free(it);
}

static void add_item(GDBusConnection *conn, const char *sender, const char *service)
{
    struct item *it = g_new0(struct item, 1);

    it->conn = conn;
    /* an item names itself by bus name, or by object path on the sender's name */
    if (service[0] == '/') {
        it->bus = g_strdup(sender);
        it->path = g_strdup(service);
    } else {
        it->bus = g_strdup(service);
        it->path = g_strdup("/StatusNotifierItem");
    }
    g_ptr_array_add(items, it);
    out("item\t%s\t%s\n", it->bus, it->path);
    it->sub_item = g_dbus_connection_signal_subscribe(
        conn, it->bus, "org.kde.StatusNotifierItem", NULL, it->path, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
        on_item_signal, it, NULL);
    it->watch = g_bus_watch_name_on_connection(conn, it->bus, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                               on_item_vanished, it, NULL);
    fetch_props(it);
}

static void method_call(GDBusConnection *conn, const char *sender, const char *path,
                        const char *iface, const char *method, GVariant *params,
                        GDBusMethodInvocation *inv, gpointer data)
{
    const char *service = NULL;

    (void)path;
    (void)data;
    if (strcmp(method, "RegisterStatusNotifierItem") == 0) {
        g_variant_get(params, "(&s)", &service);
        g_dbus_method_invocation_return_value(inv, NULL);
        g_dbus_connection_emit_signal(conn, NULL, "/StatusNotifierWatcher", iface,
                                      "StatusNotifierItemRegistered", g_variant_new("(s)", service),
                                      NULL);
        add_item(conn, sender, service);
    } else {
        g_dbus_method_invocation_return_value(inv, NULL);
    }
}

static GVariant *get_property(GDBusConnection *conn, const char *sender, const char *path,
                              const char *iface, const char *prop, GError **err, gpointer data)
{
    GVariantBuilder b;

    (void)conn;
    (void)sender;
    (void)path;
    (void)iface;
    (void)err;
    (void)data;
    if (strcmp(prop, "IsStatusNotifierHostRegistered") == 0) {
        return g_variant_new_boolean(TRUE);
    }
    if (strcmp(prop, "ProtocolVersion") == 0) {
        return g_variant_new_int32(0);
    }
    g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
    for (guint i = 0; i < items->len; i++) {
        struct item *it = g_ptr_array_index(items, i);
        g_variant_builder_add(&b, "s", it->bus);
    }
    return g_variant_builder_end(&b);
}

static const GDBusInterfaceVTable vtable = {method_call, get_property, NULL, {NULL}};

static void on_bus(GDBusConnection *conn, const char *name, gpointer data)
{
    GDBusNodeInfo *info = data;

    (void)name;
    g_dbus_connection_register_object(conn, "/StatusNotifierWatcher", info->interfaces[0], &vtable,
                                      NULL, NULL, NULL);
}

static void on_name(GDBusConnection *conn, const char *name, gpointer data)
{
    (void)conn;
    (void)name;
    (void)data;
    out("ready\n");
}

static void on_lost(GDBusConnection *conn, const char *name, gpointer data)
{
    (void)conn;
    (void)data;
    out("error\tcannot own %s\n", name);
    g_main_loop_quit(loop);
}

static gboolean on_term(gpointer data)
{
    (void)data;
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static int watch(void)
{
    GError *err = NULL;
    GDBusNodeInfo *info = g_dbus_node_info_new_for_xml(watcher_xml, &err);
    guint owner;

    if (info == NULL) {
        fprintf(stderr, "sni-watcher: %s\n", err->message);
        return 2;
    }
    items = g_ptr_array_new();
    loop = g_main_loop_new(NULL, FALSE);
    owner =
        g_bus_own_name(G_BUS_TYPE_SESSION, "org.kde.StatusNotifierWatcher",
                       G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE, on_bus, on_name, on_lost, info, NULL);
    g_unix_signal_add(SIGTERM, on_term, NULL);
    g_unix_signal_add(SIGINT, on_term, NULL);
    g_main_loop_run(loop);
    g_bus_unown_name(owner);
    g_main_loop_unref(loop);
    g_dbus_node_info_unref(info);
    g_ptr_array_unref(items);
    return 0;
}

/* Depth-first search of a layout node for an enabled item with label. */
static gint32 find_label(GVariant *node, const char *want)
{
    gint32 id = 0;
    gint32 found = -1;
    GVariant *props = NULL;
    GVariant *children = NULL;
    const char *label = NULL;
    gboolean enabled = TRUE;
    GVariantIter it;
    GVariant *child;

    g_variant_get(node, "(i@a{sv}@av)", &id, &props, &children);
    if (g_variant_lookup(props, "label", "&s", &label) && strcmp(label, want) == 0) {
        g_variant_lookup(props, "enabled", "b", &enabled);
        found = enabled ? id : -1;
    }
    g_variant_iter_init(&it, children);
    while (found < 0 && (child = g_variant_iter_next_value(&it)) != NULL) {
        GVariant *inner = g_variant_get_variant(child);
        found = find_label(inner, want);
        g_variant_unref(inner);
        g_variant_unref(child);
    }
    g_variant_unref(props);
    g_variant_unref(children);
    return found;
}

static int click(const char *bus, const char *menu, const char *label)
{
    GError *err = NULL;
    GDBusConnection *conn = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &err);
    GVariant *r;
    GVariant *root = NULL;
    guint32 revision = 0;
    gint32 id;

    if (conn == NULL) {
        fprintf(stderr, "sni-watcher: %s\n", err->message);
        return 2;
    }
    r = g_dbus_connection_call_sync(conn, bus, menu, "com.canonical.dbusmenu", "GetLayout",
                                    layout_params(), G_VARIANT_TYPE("(u(ia{sv}av))"),
                                    G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &err);
    if (r == NULL) {
        fprintf(stderr, "sni-watcher: GetLayout: %s\n", err->message);
        return 2;
    }
    g_variant_get(r, "(u@(ia{sv}av))", &revision, &root);
    id = find_label(root, label);
    g_variant_unref(root);
    g_variant_unref(r);
    if (id < 0) {
        fprintf(stderr, "sni-watcher: no enabled menu item '%s'\n", label);
        g_object_unref(conn);
        return 1;
    }
    r = g_dbus_connection_call_sync(
        conn, bus, menu, "com.canonical.dbusmenu", "Event",
        g_variant_new("(isvu)", id, "clicked", g_variant_new_int32(0), (guint32)0), NULL,
        G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &err);
    if (r == NULL) {
        fprintf(stderr, "sni-watcher: Event: %s\n", err->message);
        g_object_unref(conn);
        return 2;
    }
    g_variant_unref(r);
    printf("clicked\t%d\t%s\n", id, label);
    g_object_unref(conn);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "watch") == 0) {
        return watch();
    }
    if (argc == 5 && strcmp(argv[1], "click") == 0) {
        return click(argv[2], argv[3], argv[4]);
    }
    fprintf(stderr, "usage: sni-watcher watch | click BUS MENUPATH LABEL\n");
    return 2;
}
