#version 330
#include common
in vec3 v_world;
in vec4 v_col;

void main() {
    vec3 to_cam = u_cam - v_world;
    float dist = length(to_cam);
    vec3 view_dir = -to_cam / dist;
    vec3 n = normalize(cross(dFdx(v_world), dFdy(v_world)));
    if (dot(n, to_cam) < 0.0) n = -n;
    vec3 base = v_col.rgb;
    vec3 c;
    if (v_col.a > 0.5) {
        // water: gentle fixed ripples, sky reflection by Fresnel, a sun glint
        vec2 p = v_world.xz;
        n = normalize(vec3(0.04 * sin(p.x * 0.9 + p.y * 0.4), 1.0, 0.04 * cos(p.y * 1.1 - p.x * 0.3)));
        vec3 r = reflect(view_dir, n);
        float fres = 0.08 + 0.92 * pow(1.0 - max(dot(-view_dir, n), 0.0), 5.0);
        vec3 body = base * (u_ambient + 0.6 * max(u_sun_dir.y, 0.0));
        c = mix(body, sky_colour(r), fres) + u_sun_col * pow(max(dot(r, u_sun_dir), 0.0), 200.0);
    } else {
        float diff = max(dot(n, u_sun_dir), 0.0);
        float sky_light = 0.75 + 0.25 * n.y;   // faces turned to the sky get more ambient light
        c = base * (u_ambient * sky_light * (0.5 * u_horizon + 0.5) + (1.0 - 0.6 * u_ambient) * diff * u_sun_col);
    }
    float fog = 1.0 - exp(-dist * u_fog_density);
    fog = max(fog, smoothstep(0.7 * u_view_m, u_view_m, dist));
    c = mix(c, fog_colour(view_dir), fog);
    f_color = vec4(clamp(c, 0.0, 1.0), 1.0);
    f_depth = dot(v_world - u_cam, u_fwd);
}
