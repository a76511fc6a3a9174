/* The structs and constants include/nodenet/mysql.h forwards from mysql/mysql.h: compiled
 * once against each header (mysql_face_layout_{internal,public}.c) and compared. */
#define NN_LAYOUT_FIELDS(F)                                                                   \
    F(nn_mysql_column, name)                                                                  \
    F(nn_mysql_column, type)                                                                  \
    F(nn_mysql_column, flags)                                                                 \
    F(nn_mysql_column, decimals)                                                              \
    F(nn_mysql_column, charset)                                                               \
    F(nn_mysql_column, length)                                                                \
    F(nn_mysql_column, schema)                                                                \
    F(nn_mysql_column, table)                                                                 \
    F(nn_mysql_column, org_table)                                                             \
    F(nn_mysql_column, org_name)                                                              \
    F(nn_mysql_time, year)                                                                    \
    F(nn_mysql_time, month)                                                                   \
    F(nn_mysql_time, day)                                                                     \
    F(nn_mysql_time, days)                                                                    \
    F(nn_mysql_time, hour)                                                                    \
    F(nn_mysql_time, minute)                                                                  \
    F(nn_mysql_time, second)                                                                  \
    F(nn_mysql_time, microsecond)                                                             \
    F(nn_mysql_time, negative)                                                                \
    F(nn_mysql_value, kind)                                                                   \
    F(nn_mysql_value, type)                                                                   \
    F(nn_mysql_value, is_unsigned)                                                            \
    F(nn_mysql_value, i)                                                                      \
    F(nn_mysql_value, u)                                                                      \
    F(nn_mysql_value, d)                                                                      \
    F(nn_mysql_value, bytes.data)                                                             \
    F(nn_mysql_value, bytes.len)                                                              \
    F(nn_mysql_value, time)                                                                   \
    F(nn_mysql_handler, version)                                                              \
    F(nn_mysql_handler, query)                                                                \
    F(nn_mysql_handler, init_db)                                                              \
    F(nn_mysql_handler, session_end)                                                          \
    F(nn_mysql_handler, prepare)                                                              \
    F(nn_mysql_handler, execute)                                                              \
    F(nn_mysql_handler, stmt_close)                                                           \
    F(nn_mysql_handler, session_reset)                                                        \
    F(nn_mysql_handler, cancel)

#define NN_LAYOUT_SIZES(S) S(nn_mysql_column) S(nn_mysql_time) S(nn_mysql_value) S(nn_mysql_handler)

#define NN_LAYOUT_CONSTANTS(C)                                                                \
    C(NN_MYSQL_HANDLER_VERSION)                                                               \
    C(NN_MYSQL_ROW_FULL)                                                                      \
    C(NN_MYSQL_COLLATION_BINARY)                                                              \
    C(NN_MYSQL_COLLATION_UTF8MB4)                                                             \
    C(NN_MYSQL_VALUE_NULL)                                                                    \
    C(NN_MYSQL_VALUE_INT)                                                                     \
    C(NN_MYSQL_VALUE_UINT)                                                                    \
    C(NN_MYSQL_VALUE_DOUBLE)                                                                  \
    C(NN_MYSQL_VALUE_BYTES)                                                                   \
    C(NN_MYSQL_VALUE_TIME)                                                                    \
    C(NN_MYSQL_TYPE_DECIMAL)                                                                  \
    C(NN_MYSQL_TYPE_LONGLONG)                                                                 \
    C(NN_MYSQL_TYPE_DATETIME)                                                                 \
    C(NN_MYSQL_TYPE_VAR_STRING)                                                               \
    C(NN_MYSQL_TYPE_GEOMETRY)                                                                 \
    C(NN_MYSQL_FLAG_NOT_NULL)                                                                 \
    C(NN_MYSQL_FLAG_UNSIGNED)                                                                 \
    C(NN_MYSQL_FLAG_NUM)

/* Writes "name=value;" for every entry. */
#define NN_LAYOUT_WRITE(out, cap)                                                             \
    do {                                                                                      \
        size_t used_ = 0;                                                                     \
        (out)[0] = '\0';                                                                      \
        NN_LAYOUT_FIELDS(NN_LAYOUT_F_)                                                        \
        NN_LAYOUT_SIZES(NN_LAYOUT_S_)                                                         \
        NN_LAYOUT_CONSTANTS(NN_LAYOUT_C_)                                                     \
        (void)used_;                                                                          \
    } while (0)
#define NN_LAYOUT_PUT_(text, value)                                                           \
    used_ += (size_t)snprintf(out + used_, used_ < cap ? cap - used_ : 0, "%s=%zu;\n", text,  \
                              (size_t)(value));
#define NN_LAYOUT_F_(type, field) NN_LAYOUT_PUT_(#type "." #field, offsetof(type, field))
#define NN_LAYOUT_S_(type) NN_LAYOUT_PUT_("sizeof " #type, sizeof(type))
#define NN_LAYOUT_C_(name) NN_LAYOUT_PUT_(#name, name)
